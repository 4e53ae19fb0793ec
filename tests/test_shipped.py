"""The shipped default model on the bundled sample (and on Kodak when ../shared is present)."""

from __future__ import annotations

import hashlib
from itertools import pairwise

import numpy as np
import pytest
from conftest import KODAK

from rpncodec import auto, bitstream, codec
from rpncodec.backend import open_model
from rpncodec.cli import SAMPLE, main
from rpncodec.errors import ModelError
from rpncodec.imageio import load_image
from rpncodec.metrics import psnr
from rpncodec.pyramid import layer_references, pyramid_images
from rpncodec.utils.evaluate import evaluate_image
from rpncodec.zoo import REGISTRY, WEIGHTS_DIR, default_model, load_model


@pytest.fixture(scope="module")
def shipped():
    return load_model()


def test_every_registered_model_file_matches_its_sha256() -> None:
    for entry in REGISTRY.values():
        data = (WEIGHTS_DIR / entry.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry.sha256, entry.name
        assert len(data) < 30e6


def test_a_modified_weights_file_is_refused_naming_file_and_hash(tmp_path, monkeypatch) -> None:
    entry = REGISTRY[default_model()]
    data = bytearray((WEIGHTS_DIR / entry.file).read_bytes())
    data[-1] ^= 1
    (tmp_path / entry.file).write_bytes(bytes(data))
    monkeypatch.setattr("rpncodec.zoo.WEIGHTS_DIR", tmp_path)
    with pytest.raises(ModelError, match=f"{entry.file}.*expected {entry.sha256[:16]}"):
        load_model(entry.name)


def test_sample_layers_rise_in_rate_and_quality(shipped) -> None:
    image = load_image(SAMPLE)
    data = codec.encode(image, shipped)
    container = bitstream.parse(data)
    sizes = [bitstream.prefix_size(container, k) for k in range(1, container.header.layers + 1)]
    quality = [psnr(image, codec.decode(data, k, shipped).image) for k in range(1, len(sizes) + 1)]
    assert all(a < b for a, b in pairwise(sizes))
    # every layer adds real information (measured: +2.3, +1.5, +0.8 dB on this image)
    assert all(b > a + 0.4 for a, b in pairwise(quality)), quality
    assert all(b - a > 2000 for a, b in pairwise(sizes)), sizes  # and real bytes
    assert quality[0] > 20  # a trained model, not noise


# Per shipped model, per layer on the bundled sample: (bytes of the file cut after the layer,
# PSNR in dB against the layer's reference: the image, or its pyramid level in spatial mode),
# measured 2026-11-29 with the models in the registry then. A codec that writes more bytes or
# decodes worse than these by more than the margins fails, not only one that breaks.
SAMPLE_RATE_QUALITY: dict[str, list[tuple[int, float]]] = {
    "rpn-quality-cond": [(8700, 30.354), (13160, 32.895), (19348, 34.599), (25532, 35.490)],
    "rpn-quality-screen": [(9326, 30.322), (14206, 32.934), (20938, 34.776), (28014, 35.646)],
    "rpn-spatial-cond": [(808, 27.651), (2880, 30.039), (11036, 32.043)],
    "rpn-spatial-quality": [(816, 27.651), (2888, 30.039), (11044, 32.043), (17744, 33.953),
                            (25776, 35.076)],
    "rpn-quality-cpu": [(12003, 29.970), (19487, 32.275), (29003, 33.802), (39659, 34.647)],
    "rpn-spatial-cpu": [(759, 26.711), (3467, 29.546), (16751, 31.531)],
    "rpn-single-cpu-l500": [(7427, 29.686)],
    "rpn-single-cpu-l240": [(11479, 30.687)],
    "rpn-single-cpu-l120": [(16879, 31.492)],
    "rpn-single-cpu-l45": [(26538, 32.330)],
    "rpn-single-cpu-l20": [(33546, 32.676)],
}
BYTES_MARGIN = 0.03  # relative: float kernels may differ a little between CPUs
PSNR_MARGIN = 0.15  # dB


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_layer_of_each_shipped_model_stays_within_its_measured_bytes_and_psnr(name):
    if name not in SAMPLE_RATE_QUALITY:
        pytest.skip(f"{name} has no measured row in SAMPLE_RATE_QUALITY (tests/test_shipped.py):"
                    " measure its per-layer bytes and PSNR on the sample and add it")
    expected = SAMPLE_RATE_QUALITY[name]
    loaded = load_model(name)
    image = load_image(SAMPLE)
    data = codec.encode(image, loaded)
    container = bitstream.parse(data)
    assert container.header.layers == len(expected)
    references = layer_references(image, container.header.shifts)
    for k, ((max_bytes, min_psnr), reference) in enumerate(zip(expected, references,
                                                                strict=True), 1):
        size = bitstream.prefix_size(container, k)
        quality = psnr(reference, codec.decode(data, k, loaded).image)
        assert size <= max_bytes * (1 + BYTES_MARGIN), (name, k, size, max_bytes)
        assert quality >= min_psnr - PSNR_MARGIN, (name, k, quality, min_psnr)


@pytest.mark.skipif(not KODAK.is_dir(), reason="Kodak not found at ../shared/data/kodak")
def test_kodak_image_decodes_with_rising_quality(shipped) -> None:
    rows = evaluate_image(load_image(KODAK / "kodim01.png"), shipped)
    assert [r["bpp"] for r in rows] == sorted(r["bpp"] for r in rows)
    assert np.all(np.diff([r["psnr"] for r in rows]) > 0.2)
    assert all(r["ms_ssim"] is not None for r in rows)


def test_shipped_spatial_model_decodes_the_sample_at_quarter_half_and_full_size() -> None:
    loaded = load_model(default_model("spatial"))
    image = load_image(SAMPLE)
    data = codec.encode(image, loaded)
    for k, reference in enumerate(pyramid_images(image, 3), 1):
        out = codec.decode(data, k, loaded).image
        assert out.shape == reference.shape  # 192x128, 384x256, 768x512
        assert psnr(reference, out) > 25, k  # a trained model, not noise


def test_shipped_spatial_quality_model_keeps_the_spatial_models_first_three_layers() -> None:
    """Its levels 1-3 are rpn-spatial-cond's, frozen: the same chunks and pixels, and two
    more full-size layers, each better than the one below."""
    image = load_image(SAMPLE)
    both, spatial = load_model("rpn-spatial-quality"), load_model("rpn-spatial-cond")
    one, reference = codec.encode(image, both), codec.encode(image, spatial)
    assert bitstream.parse(one).chunks[:3] == bitstream.parse(reference).chunks
    for k in (1, 2, 3):
        assert np.array_equal(codec.decode(one, k, both).image,
                              codec.decode(reference, k, spatial).image)
    top = [psnr(image, codec.decode(one, k, both).image) for k in (3, 4, 5)]
    assert top[0] < top[1] < top[2]


def test_encode_mode_picks_the_modes_shipped_model_and_refuses_a_mismatch(tmp_path, capsys):
    out = tmp_path / "s.rpn"
    assert main(["encode", str(SAMPLE), "-o", str(out), "--mode", "spatial"]) == 0
    assert bitstream.parse(out.read_bytes()).header.mode == "spatial"
    assert main(["encode", str(SAMPLE), "-o", str(tmp_path / "x.rpn"), "--mode", "spatial",
                 "--model", default_model()]) == 1
    assert "is a quality model" in capsys.readouterr().err
    assert not (tmp_path / "x.rpn").exists()


def test_demo_writes_every_layer_of_each_mode(tmp_path) -> None:
    from PIL import Image

    assert main(["demo", "--out", str(tmp_path / "q")]) == 0
    assert main(["demo", "--mode", "spatial", "--out", str(tmp_path / "s")]) == 0
    assert {Image.open(tmp_path / "q" / f"layer{k}.png").size for k in (1, 2, 3, 4)} == {
        (768, 512)}
    assert [Image.open(tmp_path / "s" / f"layer{k}.png").size for k in (1, 2, 3)] == [
        (192, 128), (384, 256), (768, 512)]
    assert (tmp_path / "s" / "sample.rpn").stat().st_size > 2000


def flat_colour_and_text() -> np.ndarray:
    """Saturated flat squares above lines of text: what rpn-quality-screen is for."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (256, 192), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    for i, colour in enumerate([(251, 40, 184), (20, 120, 250), (250, 200, 0), (0, 160, 80)]):
        draw.rectangle([i * 64, 0, i * 64 + 63, 63], fill=colour)
    for y in range(80, 190, 16):
        draw.text((8, y), "The quick brown fox jumps over 12 lazy dogs.", fill=(0, 0, 0))
    return np.asarray(im)


def test_auto_keeps_the_photograph_model_for_a_photo_and_the_screen_model_for_text() -> None:
    import rpncodec

    photo = load_image(SAMPLE)
    assert bitstream.parse(rpncodec.encode(photo, model="auto")).header.model == \
        "rpn-quality-cond"
    screen = flat_colour_and_text()
    data = rpncodec.encode(screen, model="auto")
    assert bitstream.parse(data).header.model == "rpn-quality-screen"
    # and it is the better file: higher PSNR at every layer for no more bytes than the default's
    default = rpncodec.encode(screen)
    ours, theirs = (auto.measure(screen, open_model(m), d) for m, d in
                    (("rpn-quality-screen", data), ("rpn-quality-cond", default)))
    assert auto.bd_psnr(ours, theirs) > 0.5
    assert np.asarray(rpncodec.decode(data)).shape == screen.shape
