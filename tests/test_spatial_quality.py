"""Spatial-quality files: layers at 1/4, 1/2 and full size, then more full-size qualities, in
one file that every tool reads (tiny models: no shipped weights needed)."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import rpncodec
from rpncodec import bitstream, codec
from rpncodec.api import layers_for_width
from rpncodec.backend import open_model
from rpncodec.cli import main
from rpncodec.errors import RpncodecError
from rpncodec.serve.plan import choose_layers, layer_scale
from rpncodec.utils.testing import smooth_image, tiny_model
from rpncodec.zoo import load_model

SIZES = [(26, 18), (51, 35), (101, 69), (101, 69), (101, 69)]  # (width, height); 4n+1 sides


@pytest.fixture(scope="module")
def sq(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A 101x69 image coded by a tiny spatial-quality model, each layer as decoded."""
    folder = tmp_path_factory.mktemp("sq")
    loaded = tiny_model(folder, mode="spatial-quality")
    model = str(folder / "tiny-spatial-quality.pt")
    path = folder / "sq.rpn"
    path.write_bytes(codec.encode(smooth_image(69, 101, seed=4), loaded))
    data = path.read_bytes()
    layers = {k: codec.decode(data, k, loaded).image for k in range(1, 6)}
    return SimpleNamespace(path=path, data=data, model=model, layers=layers,
                           header=bitstream.parse(data).header)


def test_the_header_records_what_each_layer_is_and_each_decodes_at_that_size(sq) -> None:
    assert sq.header.mode == "spatial-quality" and sq.header.shifts == (2, 1, 0, 0, 0)
    assert [bitstream.layer_size(sq.header, k) for k in range(1, 6)] == SIZES
    for k, (w, h) in enumerate(SIZES, 1):
        assert sq.layers[k].shape == (h, w, 3)
    # every full-size layer is a different decode: the quality layers add something
    assert not np.array_equal(sq.layers[3], sq.layers[4])
    assert not np.array_equal(sq.layers[4], sq.layers[5])


def test_both_backends_write_and_read_the_same_file(sq) -> None:
    onnx = open_model(sq.model, backend="onnx")
    assert codec.encode(smooth_image(69, 101, seed=4), onnx) == sq.data
    for k in range(1, 6):
        assert np.array_equal(codec.decode(sq.data, k, onnx).image, sq.layers[k])


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_any_prefix_of_whole_layers_is_a_file_that_decodes_the_same(sq, k) -> None:
    cut = bitstream.truncate(sq.data, k)
    header = bitstream.parse(cut).header
    assert header.layers == k and header.shifts == sq.header.shifts[:k]
    assert np.array_equal(codec.decode(cut, None, sq.model).image, sq.layers[k])


def test_width_picks_the_resolution_and_layers_the_quality_within_it(sq) -> None:
    cases = {(1, None): 1, (26, None): 1, (27, None): 2, (52, None): 5, (10**6, None): 5,
             (101, 3): 3, (101, 4): 4, (101, 5): 5, (30, 5): 2, (20, 1): 1}
    for (width, layers), k in cases.items():
        assert layers_for_width(sq.header, width, layers) == k, (width, layers)
    with pytest.raises(RpncodecError, match="101 pixels wide needs at least 3 layers"):
        layers_for_width(sq.header, 101, 2)
    image = rpncodec.decode(sq.data, width=60, layers=4, model=sq.model)
    assert np.array_equal(np.asarray(image), sq.layers[4])


def test_the_command_line_shows_each_layers_size_and_decodes_by_width(sq, tmp_path,
                                                                       capsys) -> None:
    assert main(["info", str(sq.path)]) == 0
    printed = capsys.readouterr().out
    assert "spatial-quality mode" in printed
    assert [row.split()[-1] for row in printed.splitlines()[-5:]] == [f"{w}x{h}"
                                                                     for w, h in SIZES]
    out = tmp_path / "w.png"
    for args, k in [(["--width", "40"], 2), (["--width", "90", "--layers", "4"], 4)]:
        assert main(["decode", str(sq.path), "-o", str(out), "--model", sq.model, *args]) == 0
        assert np.array_equal(np.asarray(Image.open(out)), sq.layers[k]), args
    assert main(["decode", str(sq.path), "-o", str(out), "--model", sq.model,
                 "--width", "90", "--layers", "2"]) == 1
    assert "needs at least 3 layers" in capsys.readouterr().err


def test_bulk_coding_of_a_folder_writes_files_every_tool_reads(sq, tmp_path) -> None:
    images = _images(tmp_path / "in")
    assert main(["encode", str(images), "-o", str(tmp_path / "out"), "--model", sq.model]) == 0
    coded = sorted((tmp_path / "out").glob("*.rpn"))
    assert len(coded) == 4
    for path in coded:
        header = bitstream.parse(path.read_bytes()).header
        assert header.shifts == (2, 1, 0, 0, 0)
        assert rpncodec.decode(path, width=30, model=sq.model).size == (48, 40)  # 24 < 30


def test_serving_and_iiif_pick_the_smallest_resolution_then_the_quality(sq) -> None:
    h = sq.header
    full = (0, 0, h.width, h.height)
    assert [layer_scale(h, k) for k in (1, 2, 3, 5)] == [Fraction(1, 4), Fraction(1, 2), 1, 1]
    assert choose_layers(h, 5, full, (26, 18), 0.5) == 1
    assert choose_layers(h, 5, full, (40, 28), 0.5) == 2
    assert choose_layers(h, 5, full, (101, 69), 0.5) == 5  # full size: every quality layer
    assert choose_layers(h, 4, full, (101, 69), 0.5) == 4  # only 4 layers decode
    assert choose_layers(h, 5, full, (101, 69), 0.0) == 5
    # a crop shown at a quarter of its pixels comes from the quarter-size layer; larger, from
    # the full size with every quality layer (any smaller scale has a smaller layer)
    assert choose_layers(h, 5, (0, 0, 80, 60), (20, 15), 0.5) == 1
    assert choose_layers(h, 5, (0, 0, 80, 60), (70, 50), 0.5) == 5


def test_pillow_reduce_and_draft_choose_a_resolution(sq) -> None:
    with Image.open(sq.path) as im:
        assert im.info["rpn_mode"] == "spatial-quality"
        im.model, im.reduce = sq.model, 1
        assert np.array_equal(np.asarray(im.convert("RGB")), sq.layers[2])
    with Image.open(sq.path) as im:
        im.model = sq.model
        im.draft(None, (50, 30))
        assert im.size == (51, 35)
        assert np.array_equal(np.asarray(im.convert("RGB")), sq.layers[2])
    with Image.open(sq.path) as im:
        im.model, im.layers = sq.model, 4
        assert np.array_equal(np.asarray(im.convert("RGB")), sq.layers[4])
    with Image.open(sq.path) as im:
        im.reduce = 3
        with pytest.raises(ValueError, match="reduce must be 0 to 2"):
            im.load()


def _images(folder: Path) -> Path:
    folder.mkdir()
    for i in range(4):
        Image.fromarray(smooth_image(80, 96, seed=i)).save(folder / f"{i}.png")
    return folder


def test_warm_started_from_spatial_and_quality_models_with_its_spatial_levels_frozen(
        tmp_path) -> None:
    """The first three layers keep the spatial model's bytes and pixels through training,
    and at the start every new layer decodes exactly as the one below."""
    from rpncodec.models import build_model, preset
    from rpncodec.training.export import export, save_atomic
    from rpncodec.training.warmstart import spatial_quality_from

    spatial = tiny_model(tmp_path, mode="spatial", seed=1)
    torch.manual_seed(2)  # conditional upper levels, as the shipped model's: no aux parameters
    quality = build_model(replace(preset("quality", "tiny"), latent_codecs=(
        "factorized", "conditional", "conditional", "conditional")))
    config = replace(preset("spatial-quality", "tiny"),
                     latent_codecs=spatial.config.latent_codecs
                     + quality.config.latent_codecs[2:4])
    model = build_model(config)
    spatial_quality_from(model, spatial.model, quality)
    init = tmp_path / "init.pt"
    save_atomic({"config": config.to_dict(), "state_dict": model.state_dict()}, init)
    export(model, tmp_path / "start.pt", settle_steps=10, frozen=3)
    image = smooth_image(64, 128, seed=5)
    reference = codec.encode(image, spatial)
    started = load_model(str(tmp_path / "start.pt"))
    start = codec.encode(image, started)
    assert bitstream.parse(start).chunks[:3] == bitstream.parse(reference).chunks
    top = codec.decode(start, 3, started).image
    for k in (4, 5):
        assert np.array_equal(codec.decode(start, k, started).image, top)

    out = tmp_path / "trained.pt"
    assert main(["train", "--mode", "spatial-quality", "--preset", "tiny", "--steps", "2",
                 "--batch", "2", "--crop", "64", "--data", str(_images(tmp_path / "data")),
                 "--out", str(tmp_path / "run"), "--val-every", "2", "--init", str(init),
                 "--freeze-levels", "3", "--latent-codecs", *config.latent_codecs,
                 "--export", str(out)]) == 0
    kept = torch.load(out, weights_only=True)["state_dict"]
    for key, value in torch.load(tmp_path / "start.pt", weights_only=True)["state_dict"].items():
        if key.split(".")[1] in ("0", "1", "2"):  # every weight and buffer of levels 1-3
            assert torch.equal(kept[key], value), key
    trained_model = load_model(str(out))
    trained = codec.encode(image, trained_model)
    assert bitstream.parse(trained).chunks[:3] == bitstream.parse(reference).chunks
    for k in (1, 2, 3):
        assert np.array_equal(codec.decode(trained, k, trained_model).image,
                              codec.decode(reference, k, spatial).image)
    assert not torch.equal(torch.load(out)["state_dict"]["levels.3.synthesis.0.weight"],
                           model.state_dict()["levels.3.synthesis.0.weight"].half())
