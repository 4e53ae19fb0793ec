"""The Python interface (``rpncodec.encode``, ``decode``, ``info``, ``open``): the same bytes
and pixels as the command line, the inputs it takes, and the errors it raises.

Everything codes with the tiny random-weights models (conftest), decoded on the default
backend (ONNX Runtime, the export built once into the test cache), like the command line.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import rpncodec
from rpncodec import bitstream
from rpncodec.cli import main
from rpncodec.errors import (
    BitstreamError,
    InputImageError,
    ModelError,
    PartialDecodeWarning,
    RpncodecError,
    TruncatedError,
)
from rpncodec.utils.testing import damage_layer, smooth_image

H, W = 40, 72
LAYERS = 4


# ---------------------------------------------------------------------------------------------
# encode


def test_encode_gives_the_command_line_file_from_a_path_an_array_or_a_pil_image(cli_coded):
    assert rpncodec.encode(cli_coded.png, model=cli_coded.model) == cli_coded.data
    assert rpncodec.encode(str(cli_coded.png), model=cli_coded.model) == cli_coded.data
    assert rpncodec.encode(cli_coded.image, model=cli_coded.model) == cli_coded.data
    pil = Image.fromarray(cli_coded.image)
    assert rpncodec.encode(pil, model=cli_coded.model) == cli_coded.data


def test_encode_converts_other_pil_modes_to_rgb(cli_coded):
    rgba = Image.fromarray(cli_coded.image).convert("RGBA")  # opaque: nothing to warn about
    assert rpncodec.encode(rgba, model=cli_coded.model) == cli_coded.data
    gray = Image.fromarray(cli_coded.image).convert("L")
    expected = rpncodec.encode(np.asarray(gray.convert("RGB")), model=cli_coded.model)
    assert rpncodec.encode(gray, model=cli_coded.model) == expected


@pytest.mark.parametrize("k", range(1, LAYERS + 1))
def test_encode_with_layers_is_the_truncated_file(cli_coded, k):
    assert rpncodec.encode(cli_coded.image, model=cli_coded.model, layers=k) == \
        bitstream.truncate(cli_coded.data, k)


def test_encode_accepts_an_opened_model(cli_coded):
    from rpncodec.backend import open_model

    opened = open_model(cli_coded.model)
    assert rpncodec.encode(cli_coded.image, model=opened) == cli_coded.data


def test_encode_tiles_like_the_command_line(cli_coded, tmp_path):
    big = smooth_image(70, 130, seed=5)
    png, rpn = tmp_path / "big.png", tmp_path / "big.rpn"
    Image.fromarray(big).save(png)
    assert main(["encode", str(png), "-o", str(rpn), "--model", cli_coded.model,
                 "--tile", "64"]) == 0
    data = rpncodec.encode(big, model=cli_coded.model, tile=64)
    assert data == rpn.read_bytes() and bitstream.parse(data).header.tiles == 6


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8),
                                 np.zeros((8, 8, 4), np.uint8)])
def test_encode_refuses_an_array_that_is_not_uint8_rgb(cli_coded, bad):
    with pytest.raises(InputImageError, match="uint8"):
        rpncodec.encode(bad, model=cli_coded.model)


def test_encode_errors_are_typed(cli_coded, tmp_path):
    with pytest.raises(TypeError, match="path, a PIL image or a numpy array"):
        rpncodec.encode(42, model=cli_coded.model)
    with pytest.raises(InputImageError, match="does not exist"):
        rpncodec.encode(tmp_path / "missing.png", model=cli_coded.model)
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputImageError, match="not an image"):
        rpncodec.encode(tmp_path / "text.png", model=cli_coded.model)
    with pytest.raises(ModelError, match="unknown model"):
        rpncodec.encode(cli_coded.image, model="no-such-model")
    with pytest.raises(RpncodecError, match="spatial"):
        rpncodec.encode(cli_coded.image, model=cli_coded.model, mode="spatial")
    with pytest.raises(RpncodecError, match="between 1 and 4"):
        rpncodec.encode(cli_coded.image, model=cli_coded.model, layers=5)
    with pytest.raises(ModelError, match="tile side"):
        rpncodec.encode(cli_coded.image, model=cli_coded.model, tile=100)


# ---------------------------------------------------------------------------------------------
# decode


@pytest.mark.parametrize("k", range(1, LAYERS + 1))
def test_decode_gives_the_command_line_pixels_from_bytes_path_or_opened_file(cli_coded, k):
    for source in (cli_coded.data, cli_coded.rpn, str(cli_coded.rpn), rpncodec.open(cli_coded.rpn)):
        image = rpncodec.decode(source, layers=k, model=cli_coded.model)
        assert isinstance(image, Image.Image) and image.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(image), cli_coded.layers[k])


def test_decode_of_a_url_reads_only_the_layers_asked_for(cli_coded):
    fsspec = pytest.importorskip("fsspec")
    with fsspec.open("memory://api/img.rpn", "wb") as f:
        f.write(cli_coded.data)
    opened = rpncodec.open("memory://api/img.rpn")
    image = rpncodec.decode(opened, layers=1, model=cli_coded.model)
    np.testing.assert_array_equal(np.asarray(image), cli_coded.layers[1])
    assert opened.bytes_read < bitstream.parse(cli_coded.data).byte_ranges[1][1]
    image = rpncodec.decode("memory://api/img.rpn", model=cli_coded.model)
    np.testing.assert_array_equal(np.asarray(image), cli_coded.layers[LAYERS])


def test_strict_decode_of_a_cut_url_raises_and_without_strict_warns(cli_coded):
    fsspec = pytest.importorskip("fsspec")
    with fsspec.open("memory://api/cut.rpn", "wb") as f:
        f.write(cli_coded.data[:-5])
    with pytest.raises(TruncatedError, match="only 3 of 4"):
        rpncodec.decode("memory://api/cut.rpn", model=cli_coded.model, strict=True)
    with pytest.warns(PartialDecodeWarning, match="truncated"):
        image = rpncodec.decode("memory://api/cut.rpn", model=cli_coded.model)
    np.testing.assert_array_equal(np.asarray(image), cli_coded.layers[3])


def test_decode_on_the_torch_backend_gives_the_same_pixels(cli_coded):
    image = rpncodec.decode(cli_coded.data, layers=2, model=cli_coded.model, backend="torch")
    np.testing.assert_array_equal(np.asarray(image), cli_coded.layers[2])


def test_decode_of_a_damaged_file_warns_or_with_strict_raises(cli_coded):
    bad = damage_layer(cli_coded.data, 3)
    with pytest.warns(PartialDecodeWarning, match="layer 3 is damaged.*2 of 4"):
        image = rpncodec.decode(bad, model=cli_coded.model)
    np.testing.assert_array_equal(np.asarray(image), cli_coded.layers[2])
    with pytest.raises(BitstreamError, match="layer 3 of 4 is damaged"):
        rpncodec.decode(bad, model=cli_coded.model, strict=True)
    with pytest.raises(BitstreamError, match="layer 3 of 4 is damaged"):
        rpncodec.decode(bad, model=cli_coded.model, layers=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # intact layers asked for: nothing to warn about
        image = rpncodec.decode(bad, model=cli_coded.model, layers=2, strict=True)
    np.testing.assert_array_equal(np.asarray(image), cli_coded.layers[2])


def test_decode_of_a_truncated_file_warns_or_with_strict_raises(cli_coded):
    cut = cli_coded.data[: bitstream.parse(cli_coded.data).byte_ranges[2][0] + 10]
    with pytest.warns(PartialDecodeWarning, match="truncated.*2 of 4"):
        image = rpncodec.decode(cut, model=cli_coded.model)
    np.testing.assert_array_equal(np.asarray(image), cli_coded.layers[2])
    with pytest.raises(TruncatedError, match="only 2 of 4"):
        rpncodec.decode(cut, model=cli_coded.model, strict=True)


def test_decode_errors_are_typed(cli_coded, tmp_path):
    with pytest.raises(BitstreamError, match=r"not an \.rpn file"):
        rpncodec.decode(b"\x89PNG\r\n\x1a\n" + bytes(40))
    with pytest.raises(InputImageError, match="does not exist"):
        rpncodec.decode(tmp_path / "missing.rpn")
    with pytest.raises(InputImageError, match="directory"):
        rpncodec.decode(tmp_path)
    with pytest.raises(ModelError, match="does not ship"):
        rpncodec.decode(cli_coded.data)  # tiny-q is not a shipped model
    with pytest.raises(RpncodecError, match="between 1 and 4"):
        rpncodec.decode(cli_coded.data, layers=0, model=cli_coded.model)
    with pytest.raises(RpncodecError, match="layers at several resolutions"):
        rpncodec.decode(cli_coded.data, width=10, model=cli_coded.model)
    with pytest.raises(TypeError, match=r"expected \.rpn bytes"):
        rpncodec.decode(3.5)


def test_spatial_layers_decode_at_their_own_size_and_width_picks_the_layer(spatial_coded):
    header = bitstream.parse(spatial_coded.data).header
    sizes = [bitstream.layer_size(header, k) for k in (1, 2, 3)]
    assert sizes == [(26, 18), (51, 35), (101, 69)]  # halvings round up
    for k, (w, h) in enumerate(sizes, 1):
        image = rpncodec.decode(spatial_coded.data, layers=k, model=spatial_coded.model)
        assert image.size == (w, h)
        np.testing.assert_array_equal(np.asarray(image), spatial_coded.layers[k])
    for width, k in [(1, 1), (26, 1), (27, 2), (51, 2), (52, 3), (101, 3), (5000, 3)]:
        image = rpncodec.decode(spatial_coded.data, width=width, model=spatial_coded.model)
        assert image.size == sizes[k - 1], width
    with pytest.raises(RpncodecError, match="at least 1"):
        rpncodec.decode(spatial_coded.data, width=0, model=spatial_coded.model)


# ---------------------------------------------------------------------------------------------
# info


def test_info_describes_the_header_and_every_layer(cli_coded):
    meta = rpncodec.info(cli_coded.data)
    assert (meta.model, meta.mode, meta.width, meta.height) == ("tiny-q", "quality", W, H)
    assert meta.declared == meta.available == LAYERS and meta.size == len(cli_coded.data)
    assert meta.verified and not meta.truncated and meta.damaged is None
    ranges = bitstream.parse(cli_coded.data).byte_ranges
    assert [(li.start, li.end) for li in meta.layers] == ranges
    assert [li.layer for li in meta.layers] == [1, 2, 3, 4]
    assert all((li.width, li.height) == (W, H) for li in meta.layers)
    assert meta.layers[-1].end == len(cli_coded.data)
    assert meta.layers[0].bpp == pytest.approx(8 * ranges[0][1] / (W * H))
    assert rpncodec.info(cli_coded.rpn) == meta


def test_info_of_damaged_truncated_and_opened_files(cli_coded):
    meta = rpncodec.info(damage_layer(cli_coded.data, 2))
    assert (meta.damaged, meta.available, meta.truncated) == (2, 1, False)
    assert meta.damage == "CRC mismatch"
    cut = cli_coded.data[:-5]
    meta = rpncodec.info(cut)
    assert (meta.damaged, meta.available, meta.truncated) == (None, 3, True)
    lazy = rpncodec.info(rpncodec.open(cli_coded.rpn))  # header and length fields only
    assert not lazy.verified and lazy.size is None
    assert lazy.layers == rpncodec.info(cli_coded.data).layers


def test_info_of_a_spatial_file_gives_each_layers_size(spatial_coded):
    meta = rpncodec.info(spatial_coded.data)
    assert [(li.width, li.height) for li in meta.layers] == [(26, 18), (51, 35), (101, 69)]


def test_info_refuses_what_is_not_an_rpn_file(tmp_path):
    with pytest.raises(BitstreamError, match="wrong magic"):
        rpncodec.info(b"GIF89a" + bytes(60))
    with pytest.raises(TruncatedError, match="empty"):
        rpncodec.info(b"")
    with pytest.raises(InputImageError, match="does not exist"):
        rpncodec.info(tmp_path / "nope.rpn")


# ---------------------------------------------------------------------------------------------
# what `import rpncodec` costs


def test_import_rpncodec_imports_neither_numpy_pillow_nor_torch():
    script = ("import sys, rpncodec; "
              "print(sorted(m for m in ('numpy', 'PIL', 'torch', 'onnxruntime') "
              "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_top_level_names_are_the_api():
    from rpncodec import api

    assert rpncodec.encode is api.encode and rpncodec.decode is api.decode
    assert rpncodec.info is api.info and rpncodec.open is api.open
    golden = Path(__file__).parent / "golden" / "rpn-quality-cond.rpn"
    assert rpncodec.open(golden).header.model == "rpn-quality-cond"
