"""The anchors: layered and multi-resolution JPEG 2000, single-layer sweeps, the simulcast;
real files, rising quality, JSON like eval's."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest
import torch
from PIL import Image

from rpncodec.cli import main
from rpncodec.codec import decode, encode
from rpncodec.metrics import psnr
from rpncodec.models import build_model, preset
from rpncodec.pyramid import pyramid_images
from rpncodec.training.export import export
from rpncodec.utils.anchors import (
    SWEEPS,
    j2k_decode,
    j2k_encode,
    jpeg2000_layered,
    jpeg2000_resolutions,
    jpeg2000_spatial_quality,
    resolution_prefix,
    simulcast,
    sweep,
)
from rpncodec.utils.testing import smooth_image
from rpncodec.zoo import load_model


def test_layered_jpeg2000_hits_its_rates_and_improves_with_each_layer() -> None:
    image = smooth_image(96, 128)
    rows = jpeg2000_layered(image, [0.5, 1.0, 2.0, 4.0])
    bpp = [r["bpp"] for r in rows]
    assert bpp == pytest.approx([0.5, 1.0, 2.0, 4.0], rel=0.25)
    assert all(a < b for a, b in pairwise(r["psnr"] for r in rows))


def test_cut_codestream_equals_the_codestream_coded_with_fewer_layers() -> None:
    image = smooth_image(64, 64, seed=3)
    full = j2k_encode(image, [0.5, 2.0])
    assert np.array_equal(j2k_decode(full, 1), j2k_decode(j2k_encode(image, [0.5])))
    assert not np.array_equal(j2k_decode(full, 1), j2k_decode(full, 2))


def test_anchors_command_matches_rates_of_an_eval_json(tmp_path, capsys) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(smooth_image(64, 80)).save(folder / "a.png")
    match = tmp_path / "rpn.json"
    match.write_text(json.dumps({"results": {"bpp": [0.5, 1.0, 1.5, 2.0]},
                                 "per_image": {"a.png": [{"bpp": b} for b in (0.4, 0.8, 1.2, 3)]}}))
    out = tmp_path / "j2k.json"
    assert main(["anchors", str(folder), "--codec", "jpeg2000-layered", "--match", str(match),
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["name"] == "jpeg2000-layered" and len(report["results"]["bpp"]) == 4
    assert report["results"]["bpp"][3] == pytest.approx(3, rel=0.25)  # the per-image rate
    assert main(["anchors", str(folder), "--codec", "bmp", "--bpp", "1"]) == 1
    assert "unknown codec" in capsys.readouterr().err


@pytest.mark.parametrize("codec", ["jpeg2000", "jpeg", "webp", "avif", "jxl"])
def test_every_sweep_codes_real_files_whose_rate_and_quality_rise_with_the_setting(codec) -> None:
    image = smooth_image(64, 96, seed=5)
    low, high = SWEEPS[codec].settings[1], SWEEPS[codec].settings[-2]
    rows = sweep(image, codec, [low, high])
    assert [r["setting"] for r in rows] == [low, high]
    assert rows[0]["bytes"] < rows[1]["bytes"] and rows[0]["psnr"] < rows[1]["psnr"]
    assert all(r["bpp"] == 8 * r["bytes"] / (64 * 96) and r["layer"] == 1 for r in rows)
    assert all(r["ms_ssim"] is None for r in rows)  # 64 px is too small for 5 scales


def test_resolutions_anchor_decodes_three_sizes_of_one_codestream() -> None:
    image = smooth_image(100, 132, seed=2)
    rows = jpeg2000_resolutions(image, [0.5, 2.0])
    assert [r["layer"] for r in rows] == [1, 2, 3, 1, 2, 3]
    sizes = [level.shape[0] * level.shape[1] for level in pyramid_images(image, 3)]
    for total, point in ((0.5, rows[:3]), (2.0, rows[3:])):
        assert point[0]["bytes"] < point[1]["bytes"] < point[2]["bytes"]  # prefixes
        assert point[2]["bpp"] == pytest.approx(total, rel=0.25)
        expected = [8 * r["bytes"] / s for r, s in zip(point, sizes, strict=True)]
        assert [r["bpp"] for r in point] == pytest.approx(expected)
        assert sum(r["incremental_bytes"] for r in point) == point[2]["bytes"]
        assert all(r["psnr_own"] > 20 for r in point)
    assert rows[5]["psnr"] > rows[2]["psnr"]  # the higher total rate is better at full size


def test_spatial_quality_anchor_decodes_prefixes_of_one_codestream_at_each_layers_size(
        tmp_path, capsys) -> None:
    image = smooth_image(101, 133, seed=6)  # 4n+1 sides: reduced sizes round up
    rates = [4.0, 2.4, 0.8, 1.2, 1.6]  # over each layer's own pixels: need not rise
    rows = jpeg2000_spatial_quality(image, rates, (2, 1, 0, 0, 0))
    sizes = [(26, 34), (51, 67), (101, 133), (101, 133), (101, 133)]
    assert [r["layer"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(a["bytes"] < b["bytes"] for a, b in pairwise(rows))  # prefixes
    assert [r["bpp"] for r in rows] == pytest.approx(
        [8 * r["bytes"] / (h * w) for r, (h, w) in zip(rows, sizes, strict=True)])
    assert rows[-1]["bpp"] == pytest.approx(1.6, rel=0.25)
    assert rows[2]["psnr"] < rows[3]["psnr"] < rows[4]["psnr"]  # quality layers add quality
    assert all(r["psnr_own"] > 20 for r in rows[:2])
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(image).save(folder / "a.png")
    assert main(["anchors", str(folder), "--codec", "jpeg2000-spatial-quality",
                 "--bpp", *map(str, rates)]) == 0
    assert capsys.readouterr().out.count("\n") >= 6
    assert main(["anchors", str(folder), "--codec", "jpeg2000-spatial-quality"]) == 1


@pytest.mark.parametrize("reduce", [1, 2, 3])
def test_odd_sides_decode_at_openjpegs_reduced_size(reduce) -> None:
    image = smooth_image(81, 121, seed=3)  # sides of 8n + 1: Pillow's own size rounds down
    side = 1 << reduce
    out = j2k_decode(j2k_encode(image, [], progression="RLCP"), 0, reduce)
    assert out.shape == (-(-81 // side), -(-121 // side), 3)
    assert psnr(pyramid_images(image, reduce + 1)[0], out) > 20  # the image, not noise


@pytest.mark.parametrize("reduce", [1, 2])
def test_a_resolution_prefix_is_a_real_file_that_decodes_like_the_whole_codestream(
        reduce) -> None:
    image = smooth_image(96, 128, seed=6)
    data = j2k_encode(image, [1.5], progression="RLCP", plt=True)
    part = resolution_prefix(data, reduce)
    assert len(part) < len(data) and part.endswith(b"\xff\xd9")
    assert np.array_equal(j2k_decode(part, 0, reduce), j2k_decode(data, 0, reduce))
    assert resolution_prefix(data, 0) == data
    assert resolution_prefix(j2k_encode(image, [1.5]), reduce) == j2k_encode(image, [1.5])


def test_simulcast_adds_the_sizes_of_independent_single_layer_files(tmp_path) -> None:
    models = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        path = tmp_path / f"single{seed}.pt"
        export(build_model(preset("single", "tiny")), path, settle_steps=50)
        models.append(load_model(str(path)))
    image = smooth_image(48, 64)
    rows = simulcast(image, models)
    sizes = [len(encode(image, m)) for m in models]
    assert [r["bytes"] for r in rows] == [sizes[0], sizes[0] + sizes[1]]
    assert [r["incremental_bytes"] for r in rows] == sizes
    assert rows[1]["psnr"] == pytest.approx(psnr(image, decode(encode(image, models[1]),
                                                                None, models[1]).image))


def test_simulcast_resolutions_codes_each_pyramid_level_with_its_own_model(tmp_path) -> None:
    models = []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        path = tmp_path / f"single{seed}.pt"
        export(build_model(preset("single", "tiny")), path, settle_steps=50)
        models.append(load_model(str(path)))
    image = smooth_image(100, 130)
    rows = simulcast(image, models, resolutions=True)
    levels = pyramid_images(image, 3)
    sizes = [len(encode(level, m)) for level, m in zip(levels, models, strict=True)]
    assert [r["bytes"] for r in rows] == [sum(sizes[:k]) for k in (1, 2, 3)]
    assert [lv.shape[:2] for lv in levels] == [(25, 33), (50, 65), (100, 130)]
    middle = decode(encode(levels[1], models[1]), None, models[1]).image
    assert rows[1]["psnr"] == pytest.approx(psnr(levels[1], middle))
    assert [r["bpp"] for r in rows] == pytest.approx(
        [8 * sum(sizes[:k]) / lv.shape[0] / lv.shape[1] for k, lv in enumerate(levels, 1)])


def test_anchors_command_writes_a_sweep_in_eval_json_shape(tmp_path, capsys) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(smooth_image(64, 80)).save(folder / "a.png")
    (folder / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "jpeg.json"
    assert main(["anchors", str(folder), "--codec", "jpeg", "--quality", "20", "80",
                 "--json", str(out), "--per-image"]) == 0
    report = json.loads(out.read_text())
    assert report["mode"] == "single" and report["results"]["setting"] == [20, 80]
    assert report["results"]["layer"] == [1, 1] and "1 skipped" in report["description"]
    assert list(report["per_image"]) == ["a.png"]
    assert "skipped" in capsys.readouterr().err
    assert main(["anchors", str(folder), "--codec", "simulcast"]) == 1
    assert "one --model per layer" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["anchors", str(empty), "--codec", "webp"]) == 1
    assert "no images" in capsys.readouterr().err
