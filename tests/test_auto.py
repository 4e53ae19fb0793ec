"""``--model auto``: curves compared over whole layers, and the file that codes best kept."""

from __future__ import annotations

import pytest

from rpncodec import auto, codec
from rpncodec.errors import ModelError
from rpncodec.registry import REGISTRY
from rpncodec.utils.testing import smooth_image, tiny_model

CURVE = [(0.2, 30.0), (0.4, 32.0), (0.8, 34.0), (1.6, 36.0)]


def test_bd_psnr_is_the_mean_gap_over_the_shared_rates() -> None:
    assert auto.bd_psnr(CURVE, CURVE) == 0
    assert auto.bd_psnr([(r, q + 1.5) for r, q in CURVE], CURVE) == pytest.approx(1.5)
    # the same qualities for half the bits: one doubling = 2 dB on this curve
    assert auto.bd_psnr([(r / 2, q) for r, q in CURVE], CURVE) == pytest.approx(2.0)
    # no shared rates: the top points at DB_PER_DOUBLING
    far = [(r * 100, q) for r, q in CURVE]
    assert auto.bd_psnr(CURVE, far) == pytest.approx(auto.DB_PER_DOUBLING * 6.643856, rel=1e-5)


def test_a_lossless_layer_counts_as_the_psnr_cap() -> None:
    """A lossless top layer (infinite PSNR) must not swamp the comparison: it counts as 60 dB,
    and so does an anchor's 70 dB."""
    test = [(0.5, 30.0), (1.0, float("inf"))]
    assert auto.bd_psnr(test, [(0.5, 30.0), (1.0, 70.0)]) == 0.0
    assert auto.bd_psnr(test, [(0.5, 30.0), (1.0, 50.0)]) == pytest.approx(5.0, abs=0.2)


def test_candidates_are_the_marked_models_of_the_mode_default_first() -> None:
    names = auto.candidates("quality")
    assert names[0] == "rpn-quality-cond" and all(REGISTRY[n].auto for n in names)
    with pytest.raises(ModelError, match="no candidate"):
        auto.candidates("single")


def test_choose_keeps_the_file_whose_measured_curve_is_better(tiny, tmp_path) -> None:
    image = smooth_image(48, 64)
    other = tiny_model(tmp_path, seed=1)
    files = {id(c): codec.encode(image, c) for c in (tiny, other)}
    curves = {i: auto.measure(image, c, files[i]) for i, c in
              ((id(tiny), tiny), (id(other), other))}
    assert len(curves[id(tiny)]) == tiny.config.layers
    delta = auto.bd_psnr(curves[id(other)], curves[id(tiny)])
    assert delta != 0  # two random models never code alike
    chosen = auto.choose(image, [tiny, other], codec.encode)
    assert chosen.coder is (other if delta > 0 else tiny)
    assert chosen.data == files[id(chosen.coder)]
    assert chosen.points == curves[id(chosen.coder)]
    # the same model twice: a tie keeps the first
    assert auto.choose(image, [tiny, tiny], codec.encode).coder is tiny


def test_auto_writes_one_candidates_file_from_the_cli_the_api_and_bulk(tmp_path) -> None:
    import rpncodec
    from rpncodec.cli import main

    image = smooth_image(64, 96, seed=3)
    src = tmp_path / "in" / "a.png"
    src.parent.mkdir()
    from PIL import Image

    Image.fromarray(image).save(src)
    files = {name: rpncodec.encode(image, model=name) for name in auto.candidates("quality")}
    data = rpncodec.encode(image, model="auto")
    assert data in files.values()
    assert main(["encode", str(src), "-o", str(tmp_path / "a.rpn"), "--model", "auto"]) == 0
    assert (tmp_path / "a.rpn").read_bytes() == data
    assert main(["encode", str(src.parent), "-o", str(tmp_path / "out"), "--model", "auto"]) == 0
    assert (tmp_path / "out" / "a.rpn").read_bytes() == data
    # a finished file of any candidate is not redone
    stamp = (tmp_path / "out" / "a.rpn").stat().st_mtime_ns
    assert main(["encode", str(src.parent), "-o", str(tmp_path / "out"), "--model", "auto"]) == 0
    assert (tmp_path / "out" / "a.rpn").stat().st_mtime_ns == stamp
    assert rpncodec.decode(data).size == (96, 64)
