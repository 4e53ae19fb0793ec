"""Decompression limits (rpncodec.limits, Pillow's MAX_IMAGE_PIXELS convention): warn above the
limit, refuse above twice it, from the declared size and before any model, layer read or image
allocation; in the library, the command line, remote reads, the Python API and bulk coding."""

from __future__ import annotations

import warnings
from contextlib import redirect_stderr
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import rpncodec
from rpncodec import bitstream, bulk, codec, limits, remote
from rpncodec.cli import main
from rpncodec.imageio import load_image
from rpncodec.limits import DecompressionBombError, DecompressionBombWarning
from rpncodec.utils.testing import smooth_image, with_header

GOLDEN = Path(__file__).parent / "golden"
SMALL = (GOLDEN / "rpn-quality-cond.rpn").read_bytes()  # 96x64: 6144 pixels
BOMB = with_header(SMALL, height=16384, width=16384)  # valid header, at the format's limit


def no_model(*args, **kwargs):
    raise AssertionError("a model was loaded for a file that should have been refused")


def test_pillow_defaults_and_semantics(monkeypatch) -> None:
    assert limits.MAX_IMAGE_PIXELS == Image.MAX_IMAGE_PIXELS == 89_478_485
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        limits.check_pixels(100, 100, 10_000)  # at the limit: nothing
    with pytest.warns(DecompressionBombWarning, match="100x101 = 10100 pixels"):
        limits.check_pixels(100, 101, 10_000)
    with pytest.warns(DecompressionBombWarning):
        limits.check_pixels(100, 200, 10_000)  # exactly twice: still only a warning
    with pytest.raises(DecompressionBombError, match="more than twice the limit of 10000"):
        limits.check_pixels(101, 200, 10_000)
    limits.check_pixels(10**5, 10**5, 0)  # 0: no limit
    assert issubclass(DecompressionBombError, rpncodec.errors.RpncodecError)
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", None)  # the default, switched off
    limits.check_pixels(10**5, 10**5)
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DecompressionBombError):
        limits.check_pixels(20, 20)


def test_16384_squared_is_refused_at_once_from_the_header(monkeypatch) -> None:
    monkeypatch.setattr(codec, "model_for", no_model)
    with pytest.raises(DecompressionBombError, match="16384x16384 = 268435456 pixels"):
        codec.decode(BOMB)
    with pytest.raises(DecompressionBombError):
        rpncodec.decode(BOMB)


def test_a_lower_limit_warns_then_refuses() -> None:
    with pytest.warns(DecompressionBombWarning, match="96x64"):
        decoded = codec.decode(SMALL, 1, max_pixels=4000)
    assert decoded.image.shape == (64, 96, 3)
    with pytest.raises(DecompressionBombError):
        codec.decode(SMALL, 1, max_pixels=3000)
    with pytest.raises(DecompressionBombError):
        rpncodec.decode(SMALL, layers=1, max_pixels=3000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codec.decode(SMALL, 1, max_pixels=0)


def test_command_line(tmp_path) -> None:
    bomb, out = tmp_path / "bomb.rpn", tmp_path / "out.png"
    bomb.write_bytes(BOMB)
    err = StringIO()
    with redirect_stderr(err):
        assert main(["decode", str(bomb), "-o", str(out)]) == 1
    assert err.getvalue().startswith("rpncodec: error: file declares 16384x16384")
    assert len(err.getvalue().splitlines()) == 1 and not out.exists()
    # with the limit off, the container's own checks answer (its tile table cannot fit)
    err = StringIO()
    with redirect_stderr(err):
        assert main(["decode", str(bomb), "-o", str(out), "--max-pixels", "0"]) == 1
    assert "damaged" in err.getvalue() and "bomb" not in err.getvalue()
    small = tmp_path / "small.rpn"
    small.write_bytes(SMALL)
    err = StringIO()
    with redirect_stderr(err):
        assert main(["decode", str(small), "-o", str(out), "--layers", "1",
                     "--max-pixels", "4000"]) == 0
    assert err.getvalue().startswith("rpncodec: warning: file declares 96x64")
    assert Image.open(out).size == (96, 64)


def test_remote_reads_refuse_before_reading_a_layer(tmp_path, monkeypatch) -> None:
    path = tmp_path / "bomb.rpn"
    path.write_bytes(BOMB)
    source = remote.open(path.as_uri())
    monkeypatch.setattr(codec, "model_for", no_model)
    with pytest.raises(DecompressionBombError):
        source.decode()
    assert [r.purpose for r in source.reads] == ["header"]


def test_images_read_for_encoding_and_bulk_coding(tmp_path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(smooth_image(48, 80)).save(folder / "a.png")
    with pytest.raises(DecompressionBombError, match="80x48"):
        load_image(folder / "a.png", max_pixels=1000)
    with pytest.warns(DecompressionBombWarning):
        assert load_image(folder / "a.png", max_pixels=3000).shape == (48, 80, 3)
    assert np.array_equal(load_image(folder / "a.png", max_pixels=0),
                          load_image(folder / "a.png"))
    outcome = bulk.encode_one(str(folder / "a.png"), str(tmp_path / "a.rpn"),
                              bulk.Settings(None, None, bitstream.DEFAULT_TILE, max_pixels=1000))
    assert not outcome.ok and "decompression bomb" in outcome.message
    assert not (tmp_path / "a.rpn").exists()
    err = StringIO()
    with redirect_stderr(err):
        assert main(["encode", str(folder / "a.png"), "-o", str(tmp_path / "b.rpn"),
                     "--max-pixels", "1000"]) == 1
    assert "decompression bomb" in err.getvalue() and not (tmp_path / "b.rpn").exists()
