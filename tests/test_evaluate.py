"""eval's per-layer rows: real bytes, incremental bytes, and spatial layers at their own size."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from rpncodec import bitstream, codec
from rpncodec.cli import main
from rpncodec.metrics import psnr, psnr_from_mse
from rpncodec.models import build_model, preset
from rpncodec.pyramid import pyramid_images
from rpncodec.runtime.images import to_image as runtime_to_image
from rpncodec.tensors import to_image, to_tensor
from rpncodec.training.export import export
from rpncodec.utils.evaluate import evaluate_image, format_table, summarize
from rpncodec.utils.testing import smooth_image
from rpncodec.zoo import load_model


def test_quality_rows_carry_cumulative_and_incremental_bytes_of_the_real_file(tiny) -> None:
    image = smooth_image(48, 64, seed=4)
    outputs: dict = {}
    rows = evaluate_image(image, tiny, outputs)
    container = bitstream.parse(outputs["data"])
    assert [r["layer"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["bytes"] for r in rows] == [end for _, end in container.byte_ranges]
    assert sum(r["incremental_bytes"] for r in rows) == len(outputs["data"])
    assert all(r["bpp"] == 8 * r["bytes"] / (48 * 64) for r in rows)
    report = summarize("tiny", "test", {"a.png": rows, "b.png": rows}, False, mode="quality")
    assert report["mode"] == "quality" and report["results"]["layer"] == [r["layer"] for r in rows]
    assert report["results"]["incremental_bytes"] == [r["incremental_bytes"] for r in rows]
    assert format_table(report).count("\n") == len(rows) + 1


def test_spatial_layers_are_compared_with_the_pyramid_and_divide_by_their_own_pixels(
        monkeypatch) -> None:
    image = smooth_image(70, 100, seed=1)  # odd sizes: levels are ceil(H / 2**s)
    levels = pyramid_images(image, 3)
    payloads = [b"a" * 10, b"b" * 25, b"c" * 60]

    def fake_encode(img, loaded, **options):
        header = bitstream.Header(mode="spatial", model="fake", digest=bytes(8),
                                  height=img.shape[0], width=img.shape[1], layers=3)
        return bitstream.pack(header, payloads)

    def fake_decode(data, layers, loaded):
        return SimpleNamespace(image=levels[layers - 1])  # a perfect decoder

    monkeypatch.setattr(codec, "encode", fake_encode)
    monkeypatch.setattr(codec, "decode", fake_decode)
    loaded = SimpleNamespace(config=SimpleNamespace(mode="spatial"), name="fake")
    rows = evaluate_image(image, loaded)
    container = bitstream.parse(fake_encode(image, loaded))
    for row, level, (_, end) in zip(rows, levels, container.byte_ranges, strict=True):
        assert row["bytes"] == end
        assert row["bpp"] == pytest.approx(8 * end / (level.shape[0] * level.shape[1]))
        assert math.isinf(row["psnr"])  # compared with the pyramid level, not the original
    assert [levels[k].shape[:2] for k in range(3)] == [(18, 25), (35, 50), (70, 100)]
    ends = [0] + [end for _, end in container.byte_ranges]
    assert [r["incremental_bytes"] for r in rows] == [b - a for a, b in pairwise(ends)]


def test_a_real_spatial_model_is_measured_at_each_layers_resolution(tmp_path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "tiny-s.pt"
    export(build_model(preset("spatial", "tiny")), path, settle_steps=50)
    loaded = load_model(str(path))
    image = smooth_image(70, 100, seed=2)
    outputs: dict = {}
    rows = evaluate_image(image, loaded, outputs)
    levels = pyramid_images(image, 3)
    assert [o.shape for o in outputs["layers"]] == [level.shape for level in levels]
    for row, level, decoded in zip(rows, levels, outputs["layers"], strict=True):
        assert row["bpp"] == 8 * row["bytes"] / (level.shape[0] * level.shape[1])
        assert row["psnr"] == pytest.approx(psnr(level, decoded))


def test_several_single_layer_models_are_evaluated_as_one_rate_sweep(tmp_path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(smooth_image(48, 64)).save(folder / "a.png")
    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        paths.append(tmp_path / f"s{seed}.pt")
        export(build_model(preset("single", "tiny")), paths[-1], settle_steps=50)
    out = tmp_path / "sweep.json"
    args = ["eval", str(folder), "--model", str(paths[0]), "--model", str(paths[1])]
    assert main([*args, "--name", "mine", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["name"] == "mine" and report["mode"] == "single"
    assert report["results"]["setting"] == [1, 2] and report["results"]["layer"] == [1, 1]
    image = smooth_image(48, 64)
    expected = evaluate_image(image, load_model(str(paths[1])))[0]["bpp"]
    assert report["results"]["bpp"][1] == pytest.approx(expected)
    quality = tmp_path / "q.pt"
    export(build_model(preset("quality", "tiny")), quality, settle_steps=50)
    assert main(["eval", str(folder), "--model", str(paths[0]), "--model", str(quality)]) == 1


def test_psnr_has_one_formula_for_uint8_images_and_float_mse() -> None:
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 48  # MSE = 48^2 / 48 = 48 on the 0..255 scale
    assert psnr(a, a) == float("inf") and psnr_from_mse(0.0) == float("inf")
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 48))
    assert psnr(a, b) == pytest.approx(psnr_from_mse(48 / 255**2))  # [0, 1] scale, peak 1
    assert psnr_from_mse(0.01) == pytest.approx(20.0)


def test_uint8_tensor_conversion_round_trips_and_codec_reexports_it() -> None:
    image = smooth_image(5, 7)
    x = to_tensor(image)
    assert x.shape == (1, 3, 5, 7) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1
    assert np.array_equal(to_image(x), image)
    assert (to_image(torch.full((1, 3, 2, 2), 1.7)) == 255).all()  # clipped, not wrapped
    assert (to_image(torch.full((1, 3, 2, 2), -0.3)) == 0).all()
    assert (to_image(torch.full((1, 3, 2, 2), 100.4 / 255)) == 100).all()  # rounded
    assert np.array_equal(runtime_to_image(x.numpy()), image)  # the torch-free twin agrees
    for value in (1.7, -0.3, 100.4 / 255, 100.5 / 255, 101.5 / 255):
        t = torch.full((1, 3, 2, 2), value)
        assert np.array_equal(runtime_to_image(t.numpy()), to_image(t))
