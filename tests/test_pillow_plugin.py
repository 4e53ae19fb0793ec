"""The ``.rpn`` Pillow plugin: ``Image.open`` reads the header only, ``layers`` / ``reduce`` /
``draft`` narrow the decode, ``save`` encodes; the pixels are the command line's.

Files are made with the tiny random-weights models (conftest), whose names rpncodec does not
ship, so images get ``im.model = PATH`` before they load.
"""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import rpncodec
from rpncodec import bitstream, remote
from rpncodec.errors import (
    BitstreamError,
    ModelError,
    PartialDecodeWarning,
    RpncodecError,
    TruncatedError,
)
from rpncodec.pillow_plugin import MIME
from rpncodec.utils.testing import damage_layer

H, W = 40, 72
LAYERS = 4


def opened(path_or_file, model: str) -> ImageFile.ImageFile:
    im = Image.open(path_or_file)
    im.model = model
    return im


# ---------------------------------------------------------------------------------------------
# open


def test_open_reports_rgb_and_the_full_size_after_reading_only_the_header(cli_coded):
    with Image.open(cli_coded.rpn) as im:
        assert (im.format, im.mode, im.size) == ("RPN", "RGB", (W, H))
        assert im.get_format_mimetype() == MIME
        assert im.info["model"] == "tiny-q" and im.info["rpn_layers"] == LAYERS
        assert im.header == bitstream.parse(cli_coded.data).header
        assert im.rpn.bytes_read <= remote.PROBE  # nothing but the header was read


def test_registration_covers_open_save_extension_and_mime():
    assert "RPN" in Image.OPEN and "RPN" in Image.SAVE
    assert Image.registered_extensions()[".rpn"] == "RPN"
    assert Image.MIME["RPN"] == "image/x-rpn"


@pytest.mark.parametrize("order", ["import rpncodec; from PIL import Image",
                                   "from PIL import Image; import rpncodec"])
def test_import_rpncodec_registers_the_plugin_in_either_order(order):
    script = f"{order}; import sys; print('RPN' in Image.OPEN, '.rpn' in Image.EXTENSION)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["True", "True"]


def test_files_are_recognised_by_content_not_by_name(cli_coded, tmp_path):
    renamed = tmp_path / "looks-like.png"
    renamed.write_bytes(cli_coded.data)
    with Image.open(renamed) as im:
        assert im.format == "RPN"
    png_named_rpn = tmp_path / "really-a.rpn"
    png_named_rpn.write_bytes(cli_coded.png.read_bytes())
    with Image.open(png_named_rpn) as im:
        assert im.format == "PNG"


def test_max_image_pixels_applies_to_the_reported_size(cli_coded, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", W * H // 2 - 1)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(cli_coded.rpn)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", W * H - 1)
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(cli_coded.rpn).close()


def test_a_damaged_header_fails_at_open_with_the_codecs_message(cli_coded, tmp_path):
    bad = bytearray(cli_coded.data)
    bad[10] ^= 0xFF  # inside the model name: the header CRC fails
    (tmp_path / "bad.rpn").write_bytes(bad)
    with pytest.raises(BitstreamError, match=r"damaged \.rpn header"):
        Image.open(tmp_path / "bad.rpn")
    (tmp_path / "short.rpn").write_bytes(cli_coded.data[:12])
    with pytest.raises(TruncatedError, match="inside its header"):
        Image.open(tmp_path / "short.rpn")


# ---------------------------------------------------------------------------------------------
# load: layers, reduce, draft


def test_load_decodes_the_command_lines_pixels(cli_coded):
    with opened(cli_coded.rpn, cli_coded.model) as im:
        np.testing.assert_array_equal(np.asarray(im), cli_coded.layers[LAYERS])
        assert im.size == (W, H)


@pytest.mark.parametrize("k", range(1, LAYERS + 1))
def test_layers_decodes_only_the_first_k_and_reads_only_their_bytes(cli_coded, k):
    im = opened(io.BytesIO(cli_coded.data), cli_coded.model)
    im.layers = k
    im.load()
    np.testing.assert_array_equal(np.asarray(im), cli_coded.layers[k])
    end = bitstream.parse(cli_coded.data).byte_ranges[k - 1][1]
    assert im.rpn.bytes_read <= end + bitstream.CHUNK_OVERHEAD


def test_reduce_opens_a_spatial_file_at_half_and_quarter_size(spatial_coded):
    for r, k in [(0, 3), (1, 2), (2, 1)]:
        with opened(spatial_coded.path, spatial_coded.model) as im:
            assert im.size == (101, 69)  # the full size until load, as in JPEG 2000
            im.reduce = r
            im.load()
            assert im.size == (spatial_coded.layers[k].shape[1], spatial_coded.layers[k].shape[0])
            np.testing.assert_array_equal(np.asarray(im), spatial_coded.layers[k])
    assert [spatial_coded.layers[k].shape[:2] for k in (1, 2, 3)] == [(18, 26), (35, 51), (69, 101)]


def test_layers_of_a_spatial_file_set_its_resolution(spatial_coded):
    with opened(spatial_coded.path, spatial_coded.model) as im:
        im.layers = 1
        im.load()
        assert im.size == (26, 18)
        np.testing.assert_array_equal(np.asarray(im), spatial_coded.layers[1])


def test_reduce_is_still_pillows_method_when_unset(cli_coded):
    with opened(cli_coded.rpn, cli_coded.model) as im:
        assert callable(im.reduce)
        half = im.reduce(2)  # Image.reduce: a box-filtered copy
        assert half.size == (W // 2, H // 2)


def test_thumbnail_of_a_spatial_file_decodes_only_the_layers_it_needs(spatial_coded):
    for asked, size, scale in [((40, 30), (51, 35), 2), ((20, 15), (26, 18), 4),
                               ((60, 10), (101, 69), 1)]:
        with opened(spatial_coded.path, spatial_coded.model) as im:
            mode, box = im.draft(None, asked)
            assert im.size == size and mode == "RGB"  # the smallest level at least `asked`
            assert box == (0, 0, 101 / scale, 69 / scale)
            im.load()
            assert im.size == size
    with opened(spatial_coded.path, spatial_coded.model) as im:
        im.thumbnail((10, 10))  # drafts at >= 20x20 (reducing_gap 2): level 2, 51x35
        assert im.size == (10, 7)
        assert im.rpn.bytes_read <= bitstream.parse(spatial_coded.data).byte_ranges[1][1] + 8


def test_draft_of_a_quality_file_changes_nothing(cli_coded):
    with opened(cli_coded.rpn, cli_coded.model) as im:
        assert im.draft(None, (10, 10)) is None
        assert im.size == (W, H)


@pytest.mark.parametrize(("attribute", "value", "message"), [
    ("layers", 5, "layers must be 0"),
    ("layers", -1, "layers must be 0"),
    ("reduce", 1, "reduce needs a .rpn file with layers at several resolutions"),
])
def test_bad_layer_options_are_refused_at_load(cli_coded, attribute, value, message):
    with opened(cli_coded.rpn, cli_coded.model) as im:
        setattr(im, attribute, value)
        with pytest.raises(ValueError, match=message):
            im.load()


def test_reduce_and_layers_must_agree_on_a_spatial_file(spatial_coded):
    with opened(spatial_coded.path, spatial_coded.model) as im:
        im.reduce, im.layers = 1, 1
        with pytest.raises(ValueError, match="disagree"):
            im.load()
    with opened(spatial_coded.path, spatial_coded.model) as im:
        im.reduce = 3
        with pytest.raises(ValueError, match="reduce must be 0 to 2"):
            im.load()
    with opened(spatial_coded.path, spatial_coded.model) as im:
        im.reduce, im.layers = 1, 2  # the same request twice is fine
        im.load()
        assert im.size == (51, 35)


def test_a_file_of_an_unshipped_model_needs_its_weights(cli_coded):
    with Image.open(cli_coded.rpn) as im, pytest.raises(ModelError, match="does not ship"):
        im.load()


# ---------------------------------------------------------------------------------------------
# damaged and truncated files: Pillow's LOAD_TRUNCATED_IMAGES rule


def test_a_damaged_layer_fails_to_load_unless_truncated_images_are_allowed(cli_coded,
                                                                           monkeypatch):
    bad = damage_layer(cli_coded.data, 3)
    im = opened(io.BytesIO(bad), cli_coded.model)
    with pytest.raises(BitstreamError, match="layer 3 of 4 is damaged"):
        im.load()
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    im = opened(io.BytesIO(bad), cli_coded.model)
    with pytest.warns(PartialDecodeWarning, match="layer 3 is damaged"):
        im.load()
    np.testing.assert_array_equal(np.asarray(im), cli_coded.layers[2])


def test_a_truncated_file_fails_to_load_unless_truncated_images_are_allowed(cli_coded,
                                                                            monkeypatch):
    cut = cli_coded.data[:-7]
    with pytest.raises(TruncatedError, match="only 3 of 4"):
        opened(io.BytesIO(cut), cli_coded.model).load()
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    im = opened(io.BytesIO(cut), cli_coded.model)
    with pytest.warns(PartialDecodeWarning, match="truncated"):
        im.load()
    np.testing.assert_array_equal(np.asarray(im), cli_coded.layers[3])


def test_intact_layers_of_a_damaged_file_load_without_a_warning(cli_coded):
    im = opened(io.BytesIO(damage_layer(cli_coded.data, 3)), cli_coded.model)
    im.layers = 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        im.load()
    np.testing.assert_array_equal(np.asarray(im), cli_coded.layers[2])


def test_verify_checks_every_layer(cli_coded):
    with Image.open(cli_coded.rpn) as im:
        im.verify()
    with pytest.raises(BitstreamError, match="layer 2 of 4 is damaged"):
        Image.open(io.BytesIO(damage_layer(cli_coded.data, 2))).verify()
    with pytest.raises(TruncatedError):
        Image.open(io.BytesIO(cli_coded.data[:-1])).verify()


# ---------------------------------------------------------------------------------------------
# save


def test_save_writes_the_command_lines_file(cli_coded, tmp_path):
    Image.fromarray(cli_coded.image).save(tmp_path / "a.rpn", model=cli_coded.model)
    assert (tmp_path / "a.rpn").read_bytes() == cli_coded.data
    buffer = io.BytesIO()
    Image.fromarray(cli_coded.image).save(buffer, format="RPN", model=cli_coded.model, layers=2)
    assert buffer.getvalue() == bitstream.truncate(cli_coded.data, 2)


def test_an_opened_rpn_image_round_trips_through_save(cli_coded, tmp_path):
    with opened(cli_coded.rpn, cli_coded.model) as im:
        im.save(tmp_path / "again.rpn", model=cli_coded.model)
    with opened(tmp_path / "again.rpn", cli_coded.model) as again:
        assert again.size == (W, H) and again.info["rpn_layers"] == LAYERS
        expected = rpncodec.encode(cli_coded.layers[LAYERS], model=cli_coded.model)
        assert (tmp_path / "again.rpn").read_bytes() == expected


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"layers": 9}, RpncodecError, "between 1 and 4"),
    ({"model": "no-such-model"}, ModelError, "unknown model"),
    ({"tile": 100}, ModelError, "tile side"),
    ({"mode": "spatial"}, RpncodecError, "spatial"),
])
def test_bad_save_options_raise_and_leave_no_file(cli_coded, tmp_path, options, error, message):
    target = tmp_path / "out.rpn"
    with pytest.raises(error, match=message):
        Image.fromarray(cli_coded.image).save(target, **{"model": cli_coded.model, **options})
    assert not target.exists()


def test_save_to_an_unknown_extension_is_pillows_error(cli_coded, tmp_path):
    with pytest.raises(ValueError, match="unknown file extension"):
        Image.fromarray(cli_coded.image).save(tmp_path / "out.rpnx", model=cli_coded.model)
    assert list(Path(tmp_path).iterdir()) == []
