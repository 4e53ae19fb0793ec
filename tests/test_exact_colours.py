"""Exact colours (format version 4): the encoder adds them only where they lower some layer's
error, never to a photograph-like image; they never raise a layer's error; they survive
truncation and ranged reads; and a flat-colour image gains several dB at the same bytes."""

from __future__ import annotations

import numpy as np
import pytest

import rpncodec
from rpncodec import bitstream, codec, exact_colours
from rpncodec.metrics import psnr
from rpncodec.remote import FileSource, RemoteRpn
from rpncodec.utils.testing import flat_source, smooth_image


def squares(h: int = 80, w: int = 130) -> np.ndarray:
    image = np.full((h, w, 3), 255, np.uint8)
    image[10:50, 20:70] = (251, 40, 184)
    image[30:75, 60:120] = (20, 90, 200)
    image[60:66, 5:125] = (30, 30, 30)
    return image


def test_a_photograph_like_image_has_no_palette_and_keeps_version_3(tiny) -> None:
    image = smooth_image(80, 130)
    assert len(exact_colours.find_palette(image)) == 0
    data = codec.encode(image, tiny, 64, residual=False)
    assert data[4] == 3 and data == codec.encode(image, tiny, 64, exact=False, residual=False)


def test_palette_lists_the_dominant_colours_most_frequent_first() -> None:
    palette = exact_colours.find_palette(flat_source())
    assert tuple(palette[0]) == (255, 255, 255)
    assert {(251, 40, 184), (20, 90, 200), (30, 30, 30)} <= {tuple(c) for c in palette}
    assert len(palette) <= exact_colours.MAX_COLOURS


def test_snapping_lowers_every_layers_error_at_almost_the_same_bytes(tiny) -> None:
    """Flat colour gains; the header grows by 1 + 3K + 2L bytes and nothing else."""
    image = squares()
    plain = codec.encode(image, tiny, 64, exact=False, residual=False)
    data = codec.encode(image, tiny, 64, residual=False)
    header = bitstream.parse(data).header
    k = len(header.palette) // 3
    assert data[4] == 4 and len(data) == len(plain) + 1 + 3 * k + 2 * header.layers
    assert bitstream.parse(data).chunks == bitstream.parse(plain).chunks
    assert rpncodec.info(data).exact_colours == k > 0 and rpncodec.info(plain).exact_colours == 0
    gains = [psnr(image, codec.decode(data, n, tiny).image)
             - psnr(image, codec.decode(plain, n, tiny).image) for n in range(1, 5)]
    assert min(gains) >= 0 and max(gains) > 0.5, gains  # a tiny model: shipped ones gain more


def test_the_radii_minimise_the_error_they_promise() -> None:
    """choose_radii's error change is what snap does, and no other radii do better."""
    rng = np.random.default_rng(1)
    reference = squares(48, 64)
    noise = rng.normal(0, 6, reference.shape)
    decoded = np.clip(reference + noise, 0, 255).astype(np.uint8)
    palette = exact_colours.find_palette(reference)
    regions = [(0, 48, 0, 32), (0, 48, 32, 64)]
    r1, r2, change = exact_colours.choose_radii(reference, decoded, palette, regions)
    assert r1 > 0 and change < 0

    def error(a: int, b: int) -> float:
        out = decoded.copy()
        for t, bt, x0, x1 in regions:
            out[t:bt, x0:x1] = exact_colours.snap(decoded[t:bt, x0:x1], palette, a, b)
        return float(np.sum((out.astype(np.float64) - reference) ** 2))

    before = float(np.sum((decoded.astype(np.float64) - reference) ** 2))
    assert error(r1, r2) - before == pytest.approx(change)
    for a in (0, 4, 8, 16, 32, 64):
        for b in (0, 8, 32, 96):
            assert error(a, b) >= error(r1, r2) - 1e-6


def test_snapping_is_off_at_radius_0_and_never_invents_a_colour() -> None:
    pixels = np.random.default_rng(2).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    palette = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0]], np.uint8)
    assert exact_colours.snap(pixels, palette, 0, 200) is pixels
    out = exact_colours.snap(pixels, palette, 60, 120)
    changed = (out != pixels).any(2)
    assert changed.any()
    colours = {tuple(c) for c in out[changed]}
    assert colours <= {tuple(c) for c in palette}


def test_truncation_and_ranged_reads_keep_the_layers_radii(tiny, tmp_path) -> None:
    data = codec.encode(squares(), tiny, 64, residual=False)
    header = bitstream.parse(data).header
    cut = bitstream.truncate(data, 2)
    assert cut[4] == 4 and bitstream.parse(cut).header.radii == header.radii[:2]
    np.testing.assert_array_equal(codec.decode(cut, None, tiny).image,
                                  codec.decode(data, 2, tiny).image)
    path = tmp_path / "a.rpn"
    path.write_bytes(data)
    remote = RemoteRpn(FileSource(str(path)))
    assert remote.header == header
    np.testing.assert_array_equal(remote.decode(1, tiny).image, codec.decode(data, 1, tiny).image)


def test_a_long_palette_header_is_read_in_a_second_range(tmp_path) -> None:
    """A header with 256 colours and 16 layers is longer than the first ranged read."""
    header = bitstream.Header("quality", "x" * 64, bytes(8), 64, 64, 16, 64,
                              palette=bytes(range(256)) * 3, radii=((8, 16),) * 16)
    data = bitstream.pack(header, [b"\x00" * 4] * 16)
    path = tmp_path / "long.rpn"
    path.write_bytes(data)
    remote = RemoteRpn(FileSource(str(path)))
    assert remote.header == header and len(remote.reads) == 2


def test_the_switch_turns_them_off_everywhere(tiny_model_path, tmp_path, capsys) -> None:
    """``encode --no-exact-colours``, ``rpncodec.encode(exact_colours=False)``, a folder
    encode and the Pillow plugin's ``exact_colours=False`` write no exact colours (with
    residual layers off too: the learned layers alone);
    ``info`` names the colours of a file that has them."""
    from PIL import Image

    import rpncodec.pillow_plugin  # registers the .rpn format with Pillow
    from rpncodec.bulk import Settings, encode_one
    from rpncodec.cli import main

    image = squares()
    source = tmp_path / "squares.png"
    Image.fromarray(image).save(source)
    assert rpncodec.encode(image, model=tiny_model_path, tile=64, residual_layers=False)[4] == 4
    assert rpncodec.encode(image, model=tiny_model_path, tile=64, exact_colours=False,
                           residual_layers=False)[4] == 3
    for flag, version in ((), 4), (("--no-exact-colours",), 3):
        out = tmp_path / f"cli{version}.rpn"
        assert main(["encode", str(source), "-o", str(out), "--model", tiny_model_path,
                     "--tile", "64", "--no-residual-layers", *flag]) == 0
        assert out.read_bytes()[4] == version
    assert main(["info", str(tmp_path / "cli4.rpn")]) == 0
    out = capsys.readouterr().out
    assert "format version 4" in out
    assert "exact colours\n" in out
    settings = Settings(tiny_model_path, None, 64, exact_colours=False, residual_layers=False)
    assert encode_one(str(source), str(tmp_path / "bulk.rpn"), settings).ok
    assert (tmp_path / "bulk.rpn").read_bytes()[4] == 3
    Image.fromarray(image).save(tmp_path / "pil.rpn", model=tiny_model_path, tile=64,
                                exact_colours=False, residual_layers=False)
    assert (tmp_path / "pil.rpn").read_bytes()[4] == 3
