"""The shipped default model on the bundled sample (and on Kodak when ../shared is present)."""

from __future__ import annotations

import hashlib
from itertools import pairwise

import numpy as np
import pytest
from conftest import KODAK

from rpncodec import bitstream, codec
from rpncodec.cli import SAMPLE, main
from rpncodec.errors import ModelError
from rpncodec.imageio import load_image
from rpncodec.pyramid import pyramid_images
from rpncodec.utils.evaluate import evaluate_image, psnr
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
