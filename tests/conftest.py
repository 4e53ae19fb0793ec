"""Shared fixtures: a tiny exported model and generated images (no ../shared needed)."""

from __future__ import annotations

from pathlib import Path

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
