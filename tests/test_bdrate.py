"""BD-rates per layer and curve against curve; the plot; one-line errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from rpncodec.cli import main
from rpncodec.utils.bdrate import (
    bdrate,
    codec_specs,
    comparable,
    compare_curves,
    load_results,
    monotone,
    results_mode,
)


def _write(path, name, mode, bpp, psnr, layers=None, msssim=None):
    results = {"bpp": bpp, "psnr-rgb": psnr, "ms-ssim-rgb": msssim or [None] * len(bpp),
               "encoding_time": [0.0] * len(bpp), "decoding_time": [0.0] * len(bpp)}
    if layers is not None:
        results["layer"] = layers
    path.write_text(json.dumps({"name": name, "description": "test", "mode": mode,
                                "results": results}))
    return str(path)


CURVE_BPP = [0.125, 0.25, 0.5, 1.0, 2.0]
CURVE_PSNR = [26.0, 29.0, 32.0, 35.0, 38.0]  # 3 dB per doubling: a straight line in log-rate


def test_a_curve_needing_twenty_percent_fewer_bits_has_bd_rate_minus_twenty() -> None:
    anchor = list(zip(CURVE_BPP, CURVE_PSNR, strict=True))
    test = [(0.8 * b, p) for b, p in anchor]
    row = compare_curves(test, anchor)
    assert row["bd_rate"] == pytest.approx(-20.0, abs=0.05)
    assert row["bd_quality"] == pytest.approx(-3 * math.log2(0.8), abs=0.02)
    assert row["how"].startswith("pchip")


def test_one_point_is_read_off_the_other_curve() -> None:
    anchor = list(zip(CURVE_BPP, CURVE_PSNR, strict=True))
    row = compare_curves([(0.5, 29.0)], anchor)  # the anchor reaches 29 dB at 0.25 bpp
    assert row["bd_rate"] == pytest.approx(100.0, abs=0.5)
    assert row["bd_quality"] == pytest.approx(-3.0, abs=0.05)
    flipped = compare_curves(anchor, [(0.5, 29.0)])
    assert flipped["bd_rate"] == pytest.approx(-50.0, abs=0.5)
    outside = compare_curves([(8.0, 60.0)], anchor)
    assert outside["bd_rate"] is None and "outside" in outside["how"]


def test_matched_single_points_give_only_the_quality_difference() -> None:
    row = compare_curves([(0.500, 28.0)], [(0.505, 31.0)])
    assert row["bd_rate"] is None and row["bd_quality"] == pytest.approx(-3.0)
    assert row["how"] == "same rate"
    assert compare_curves([(0.5, 28.0)], [(1.0, 31.0)])["bd_quality"] is None


def test_points_that_add_nothing_are_dropped_from_a_curve() -> None:
    assert monotone([(0.53, 28.56), (0.27, 26.3), (0.529, 28.4), (0.531, 28.55)]) == [
        (0.27, 26.3), (0.529, 28.4), (0.53, 28.56)]


def test_layered_against_layered_compares_layer_by_layer(tmp_path) -> None:
    test = _write(tmp_path / "t.json", "rpn", "quality", [0.25, 0.5, 1.0], [28.0, 31.0, 34.0])
    anchor = _write(tmp_path / "a.json", "jpeg2000-layered", "quality", [0.25, 0.5, 1.0],
                    [29.0, 31.5, 34.0])
    rows = bdrate(load_results(test), load_results(anchor))
    assert [r["layer"] for r in rows] == ["1", "2", "3"]
    assert [round(r["bd_quality"], 3) for r in rows] == [-1.0, -0.5, 0.0]
    # two operating points per layer (two files joined) make per-layer curves
    test2 = _write(tmp_path / "t2.json", "rpn", "quality", [0.5, 1.0, 2.0], [31.0, 34.0, 37.0])
    anchor2 = _write(tmp_path / "a2.json", "jpeg2000-layered", "quality", [0.5, 1.0, 2.0],
                     [31.5, 34.0, 36.5])
    rows = bdrate(load_results(f"{test},{test2}"), load_results(f"{anchor},{anchor2}"))
    assert all(r["how"].startswith("pchip") for r in rows)
    assert rows[0]["bd_rate"] > 0 and rows[2]["bd_rate"] < 0


def test_layered_against_a_sweep_gives_each_layer_and_the_layers_as_one_curve(tmp_path) -> None:
    test = _write(tmp_path / "t.json", "rpn", "quality", [0.25, 0.5, 1.0], [29.0, 32.0, 35.0])
    sweep = _write(tmp_path / "s.json", "jpeg", "single", CURVE_BPP, CURVE_PSNR)
    rows = bdrate(load_results(test), load_results(sweep))
    assert [r["layer"] for r in rows] == ["1", "2", "3", "all"]
    assert all(r["bd_rate"] == pytest.approx(0.0, abs=0.1) for r in rows)
    spatial = _write(tmp_path / "sp.json", "rpn-s", "spatial", [2.0, 1.0, 0.5], [30, 31, 32],
                     layers=[1, 2, 3])
    rows = bdrate(load_results(spatial), load_results(sweep))
    assert [r["layer"] for r in rows] == ["3"]  # only the full-resolution layer


def test_bdrate_and_plot_commands(tmp_path, capsys) -> None:
    test = _write(tmp_path / "t.json", "rpn", "quality", [0.25, 0.5, 1.0], [28.0, 31.0, 34.0],
                  msssim=[0.93, 0.96, 0.98])
    sweep = _write(tmp_path / "s.json", "jpeg", "single", CURVE_BPP, CURVE_PSNR,
                   msssim=[0.88, 0.93, 0.96, 0.98, 0.99])
    out = tmp_path / "bd.json"
    assert main(["bdrate", test, sweep, "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "pchip" in table and len(table.strip().splitlines()) == 2 + 4
    saved = json.loads(out.read_text())
    assert saved["method"] == "pchip" and len(saved["rows"]) == 4
    assert main(["bdrate", test, sweep, "--metric", "ms-ssim"]) == 0
    capsys.readouterr()
    png = tmp_path / "rd.png"
    assert main(["plot", test, sweep, "-o", str(png)]) == 0
    pixels = np.asarray(Image.open(png).convert("L"))
    assert pixels.shape[1] > 1000 and pixels.std() > 10  # a real figure, not a blank page
    (tmp_path / "bad.json").write_text("{}")
    for argv in (["bdrate", test, str(tmp_path / "bad.json")],
                 ["plot", str(tmp_path / "missing.json"), "-o", str(png)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("rpncodec: error: cannot read results") and "Traceback" not in err


def test_files_of_one_codec_join_into_one_set_of_curves(tmp_path) -> None:
    a = _write(tmp_path / "a.json", "simulcast", "quality", [0.2, 0.5], [27, 28], [1, 2])
    b = _write(tmp_path / "b.json", "simulcast", "quality", [0.3, 0.7], [28, 29], [1, 2])
    c = _write(tmp_path / "c.json", "rpn", "spatial", [0.3, 0.3], [26, 27], [1, 2])
    specs = codec_specs([a, b, c])
    assert specs == {"simulcast": f"{a},{b}", "rpn": str(c)}
    joined = load_results(specs["simulcast"])
    assert joined.layers == {1: [(0.2, 27.0), (0.3, 28.0)], 2: [(0.5, 28.0), (0.7, 29.0)]}
    sweep = load_results(str(_write(tmp_path / "d.json", "jpeg", "single", [0.5], [30])))
    assert not comparable(load_results(specs["rpn"]), joined)  # spatial against quality
    assert comparable(joined, sweep) and not comparable(sweep, joined)


def test_results_mode_reads_the_field_or_falls_back_for_old_files() -> None:
    # The one place the fallback is written: plot, report and load_results all call it.
    assert results_mode({"mode": "spatial", "results": {"setting": [1]}}) == "spatial"
    assert results_mode({"results": {"bpp": [1.0], "setting": [20]}}) == "single"  # a sweep
    assert results_mode({"results": {"bpp": [1.0, 2.0]}}) == "quality"  # layers of one stream
    assert results_mode({}) == "quality"
