"""Shared fixtures: a tiny exported model and generated images (no ../shared needed)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from rpncodec.utils.testing import smooth_image, tiny_model
from rpncodec.zoo import load_model

# Tiny models are all overhead: one thread avoids OpenMP hand-offs (and 2-core contention).
torch.set_num_threads(1)

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONNX exports built on first use go to a fresh folder, never the user's cache."""
    folder = tmp_path_factory.mktemp("onnx-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("RPNCODEC_CACHE", str(folder))
    yield folder
    mp.undo()


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A randomly initialised tiny quality model, exported like a shipped one."""
    folder = tmp_path_factory.mktemp("weights")
    tiny_model(folder)
    return str(folder / "tiny-q.pt")


@pytest.fixture(scope="session")
def tiny(tiny_model_path: str):
    return load_model(tiny_model_path)


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    path = tmp_path / "img.png"
    Image.fromarray(smooth_image(48, 80)).save(path)
    return path


@pytest.fixture(scope="session")
def cli_coded(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: str) -> SimpleNamespace:
    """An image encoded by ``rpncodec encode`` with the tiny model, and each of its layers as
    ``rpncodec decode --layers K`` writes it: what the Python API and the Pillow plugin must
    reproduce (``image``, ``png``, ``rpn``, ``data``, ``layers[k]``, ``model``)."""
    from rpncodec.cli import main

    folder = tmp_path_factory.mktemp("cli-coded")
    image = smooth_image(40, 72, seed=3)
    png, rpn = folder / "img.png", folder / "img.rpn"
    Image.fromarray(image).save(png)
    assert main(["encode", str(png), "-o", str(rpn), "--model", tiny_model_path]) == 0
    layers = {}
    for k in range(1, 5):
        out = folder / f"layer{k}.png"
        assert main(["decode", str(rpn), "-o", str(out), "--layers", str(k),
                     "--model", tiny_model_path]) == 0
        layers[k] = np.asarray(Image.open(out))
    return SimpleNamespace(image=image, png=png, rpn=rpn, data=rpn.read_bytes(), layers=layers,
                           model=tiny_model_path)


@pytest.fixture(scope="session")
def spatial_coded(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A spatial file of a 101x69 image (4n+1 sides: every halving rounds up) coded by a tiny
    spatial model, with each layer as the codec decodes it (``path``, ``data``, ``model``,
    ``layers[k]``)."""
    from rpncodec import codec
    from rpncodec.api import encode

    folder = tmp_path_factory.mktemp("spatial-coded")
    tiny_model(folder, mode="spatial")
    model = str(folder / "tiny-spatial.pt")
    path = folder / "sp.rpn"
    path.write_bytes(encode(smooth_image(69, 101, seed=4), model=model))
    data = path.read_bytes()
    layers = {k: codec.decode(data, k, model).image for k in (1, 2, 3)}
    return SimpleNamespace(path=path, data=data, model=model, layers=layers)
