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
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import rpncodec
from rpncodec import bitstream, codec
from rpncodec.cli import main
from rpncodec.errors import (
    BitstreamError,
    InputImageError,
    ModelError,
    PartialDecodeWarning,
    RpncodecError,
    TruncatedError,
)
from rpncodec.utils.testing import smooth_image, tiny_model

H, W = 40, 72
LAYERS = 4


@pytest.fixture(scope="module")
def quality(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: str) -> SimpleNamespace:
    """An image, its file from ``rpncodec encode`` and every layer from ``rpncodec decode``."""
    folder = tmp_path_factory.mktemp("api")
    image = smooth_image(H, W, seed=3)
    png, rpn = folder / "img.png", folder / "img.rpn"
    Image.fromarray(image).save(png)
    assert main(["encode", str(png), "-o", str(rpn), "--model", tiny_model_path]) == 0
    layers = {}
    for k in range(1, LAYERS + 1):
        out = folder / f"layer{k}.png"
        assert main(["decode", str(rpn), "-o", str(out), "--layers", str(k),
                     "--model", tiny_model_path]) == 0
        layers[k] = np.asarray(Image.open(out))
    return SimpleNamespace(image=image, png=png, rpn=rpn, data=rpn.read_bytes(), layers=layers,
                           model=tiny_model_path)


@pytest.fixture(scope="module")
def spatial(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A spatial file of a 4n+1 x 4n+1 image (odd sides at every level) and its model."""
    folder = tmp_path_factory.mktemp("api-spatial")
    tiny_model(folder, mode="spatial")
    model = str(folder / "tiny-spatial.pt")
    data = rpncodec.encode(smooth_image(69, 101, seed=4), model=model)
    return SimpleNamespace(data=data, model=model)


def damaged(data: bytes, layer: int) -> bytes:
    """``data`` with one payload byte of ``layer`` flipped (its CRC then fails)."""
    start, _ = bitstream.parse(data).byte_ranges[layer - 1]
    buf = bytearray(data)
    buf[start + bitstream.CHUNK_OVERHEAD + 3] ^= 0xFF
    return bytes(buf)


# ---------------------------------------------------------------------------------------------
# encode


def test_encode_gives_the_command_line_file_from_a_path_an_array_or_a_pil_image(quality):
    assert rpncodec.encode(quality.png, model=quality.model) == quality.data
    assert rpncodec.encode(str(quality.png), model=quality.model) == quality.data
    assert rpncodec.encode(quality.image, model=quality.model) == quality.data
    assert rpncodec.encode(Image.fromarray(quality.image), model=quality.model) == quality.data


def test_encode_converts_other_pil_modes_to_rgb(quality):
    rgba = Image.fromarray(quality.image).convert("RGBA")  # opaque: nothing to warn about
    assert rpncodec.encode(rgba, model=quality.model) == quality.data
    gray = Image.fromarray(quality.image).convert("L")
    expected = rpncodec.encode(np.asarray(gray.convert("RGB")), model=quality.model)
    assert rpncodec.encode(gray, model=quality.model) == expected


@pytest.mark.parametrize("k", range(1, LAYERS + 1))
def test_encode_with_layers_is_the_truncated_file(quality, k):
    assert rpncodec.encode(quality.image, model=quality.model, layers=k) == \
        bitstream.truncate(quality.data, k)


def test_encode_accepts_an_opened_model(quality):
    from rpncodec.backend import open_model

    opened = open_model(quality.model)
    assert rpncodec.encode(quality.image, model=opened) == quality.data


def test_encode_tiles_like_the_command_line(quality, tmp_path):
    big = smooth_image(70, 130, seed=5)
    png, rpn = tmp_path / "big.png", tmp_path / "big.rpn"
    Image.fromarray(big).save(png)
    assert main(["encode", str(png), "-o", str(rpn), "--model", quality.model,
                 "--tile", "64"]) == 0
    data = rpncodec.encode(big, model=quality.model, tile=64)
    assert data == rpn.read_bytes() and bitstream.parse(data).header.tiles == 6


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8),
                                 np.zeros((8, 8, 4), np.uint8)])
def test_encode_refuses_an_array_that_is_not_uint8_rgb(quality, bad):
    with pytest.raises(InputImageError, match="uint8"):
        rpncodec.encode(bad, model=quality.model)


def test_encode_errors_are_typed(quality, tmp_path):
    with pytest.raises(TypeError, match="path, a PIL image or a numpy array"):
        rpncodec.encode(42, model=quality.model)
    with pytest.raises(InputImageError, match="does not exist"):
        rpncodec.encode(tmp_path / "missing.png", model=quality.model)
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputImageError, match="not an image"):
        rpncodec.encode(tmp_path / "text.png", model=quality.model)
    with pytest.raises(ModelError, match="unknown model"):
        rpncodec.encode(quality.image, model="no-such-model")
    with pytest.raises(RpncodecError, match="spatial"):
        rpncodec.encode(quality.image, model=quality.model, mode="spatial")
    with pytest.raises(RpncodecError, match="between 1 and 4"):
        rpncodec.encode(quality.image, model=quality.model, layers=5)
    with pytest.raises(ModelError, match="tile side"):
        rpncodec.encode(quality.image, model=quality.model, tile=100)


# ---------------------------------------------------------------------------------------------
# decode


@pytest.mark.parametrize("k", range(1, LAYERS + 1))
def test_decode_gives_the_command_line_pixels_from_bytes_path_or_opened_file(quality, k):
    for source in (quality.data, quality.rpn, str(quality.rpn), rpncodec.open(quality.rpn)):
        image = rpncodec.decode(source, layers=k, model=quality.model)
        assert isinstance(image, Image.Image) and image.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(image), quality.layers[k])


def test_decode_of_a_url_reads_only_the_layers_asked_for(quality):
    fsspec = pytest.importorskip("fsspec")
    with fsspec.open("memory://api/img.rpn", "wb") as f:
        f.write(quality.data)
    opened = rpncodec.open("memory://api/img.rpn")
    image = rpncodec.decode(opened, layers=1, model=quality.model)
    np.testing.assert_array_equal(np.asarray(image), quality.layers[1])
    assert opened.bytes_read < bitstream.parse(quality.data).byte_ranges[1][1]
    image = rpncodec.decode("memory://api/img.rpn", model=quality.model)
    np.testing.assert_array_equal(np.asarray(image), quality.layers[LAYERS])


def test_decode_on_the_torch_backend_gives_the_same_pixels(quality):
    image = rpncodec.decode(quality.data, layers=2, model=quality.model, backend="torch")
    np.testing.assert_array_equal(np.asarray(image), quality.layers[2])


def test_decode_of_a_damaged_file_warns_or_with_strict_raises(quality):
    bad = damaged(quality.data, 3)
    with pytest.warns(PartialDecodeWarning, match="layer 3 is damaged.*2 of 4"):
        image = rpncodec.decode(bad, model=quality.model)
    np.testing.assert_array_equal(np.asarray(image), quality.layers[2])
    with pytest.raises(BitstreamError, match="layer 3 of 4 is damaged"):
        rpncodec.decode(bad, model=quality.model, strict=True)
    with pytest.raises(BitstreamError, match="layer 3 of 4 is damaged"):
        rpncodec.decode(bad, model=quality.model, layers=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # intact layers asked for: nothing to warn about
        image = rpncodec.decode(bad, model=quality.model, layers=2, strict=True)
    np.testing.assert_array_equal(np.asarray(image), quality.layers[2])


def test_decode_of_a_truncated_file_warns_or_with_strict_raises(quality):
    cut = quality.data[: bitstream.parse(quality.data).byte_ranges[2][0] + 10]
    with pytest.warns(PartialDecodeWarning, match="truncated.*2 of 4"):
        image = rpncodec.decode(cut, model=quality.model)
    np.testing.assert_array_equal(np.asarray(image), quality.layers[2])
    with pytest.raises(TruncatedError, match="only 2 of 4"):
        rpncodec.decode(cut, model=quality.model, strict=True)


def test_decode_errors_are_typed(quality, tmp_path):
    with pytest.raises(BitstreamError, match=r"not an \.rpn file"):
        rpncodec.decode(b"\x89PNG\r\n\x1a\n" + bytes(40))
    with pytest.raises(InputImageError, match="does not exist"):
        rpncodec.decode(tmp_path / "missing.rpn")
    with pytest.raises(InputImageError, match="directory"):
        rpncodec.decode(tmp_path)
    with pytest.raises(ModelError, match="does not ship"):
        rpncodec.decode(quality.data)  # tiny-q is not a shipped model
    with pytest.raises(RpncodecError, match="between 1 and 4"):
        rpncodec.decode(quality.data, layers=0, model=quality.model)
    with pytest.raises(RpncodecError, match="spatial files"):
        rpncodec.decode(quality.data, width=10, model=quality.model)
    with pytest.raises(RpncodecError, match="not both"):
        rpncodec.decode(quality.data, layers=1, width=10, model=quality.model)
    with pytest.raises(TypeError, match=r"expected \.rpn bytes"):
        rpncodec.decode(3.5)


def test_spatial_layers_decode_at_their_own_size_and_width_picks_the_layer(spatial):
    header = bitstream.parse(spatial.data).header
    sizes = [bitstream.layer_size(header, k) for k in (1, 2, 3)]
    assert sizes == [(26, 18), (51, 35), (101, 69)]  # halvings round up
    full = {k: codec.decode(spatial.data, k, spatial.model).image for k in (1, 2, 3)}
    for k, (w, h) in enumerate(sizes, 1):
        image = rpncodec.decode(spatial.data, layers=k, model=spatial.model)
        assert image.size == (w, h)
        np.testing.assert_array_equal(np.asarray(image), full[k])
    for width, k in [(1, 1), (26, 1), (27, 2), (51, 2), (52, 3), (101, 3), (5000, 3)]:
        image = rpncodec.decode(spatial.data, width=width, model=spatial.model)
        assert image.size == sizes[k - 1], width
    with pytest.raises(RpncodecError, match="at least 1"):
        rpncodec.decode(spatial.data, width=0, model=spatial.model)


# ---------------------------------------------------------------------------------------------
# info


def test_info_describes_the_header_and_every_layer(quality):
    meta = rpncodec.info(quality.data)
    assert (meta.model, meta.mode, meta.width, meta.height) == ("tiny-q", "quality", W, H)
    assert meta.declared == meta.available == LAYERS and meta.size == len(quality.data)
    assert meta.verified and not meta.truncated and meta.damaged is None
    ranges = bitstream.parse(quality.data).byte_ranges
    assert [(li.start, li.end) for li in meta.layers] == ranges
    assert [li.layer for li in meta.layers] == [1, 2, 3, 4]
    assert all((li.width, li.height) == (W, H) for li in meta.layers)
    assert meta.layers[-1].end == len(quality.data)
    assert meta.layers[0].bpp == pytest.approx(8 * ranges[0][1] / (W * H))
    assert rpncodec.info(quality.rpn) == meta


def test_info_of_damaged_truncated_and_opened_files(quality):
    meta = rpncodec.info(damaged(quality.data, 2))
    assert (meta.damaged, meta.available, meta.truncated) == (2, 1, False)
    assert meta.damage == "CRC mismatch"
    cut = quality.data[:-5]
    meta = rpncodec.info(cut)
    assert (meta.damaged, meta.available, meta.truncated) == (None, 3, True)
    lazy = rpncodec.info(rpncodec.open(quality.rpn))  # header and length fields only
    assert not lazy.verified and lazy.size is None
    assert lazy.layers == rpncodec.info(quality.data).layers


def test_info_of_a_spatial_file_gives_each_layers_size(spatial):
    meta = rpncodec.info(spatial.data)
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
