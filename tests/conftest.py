"""Shared fixtures: a tiny exported model and generated images (no ../shared needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rpncodec.models import build_model, preset
from rpncodec.train import export
from rpncodec.zoo import load_model

# Tiny models are all overhead: one thread avoids OpenMP hand-offs (and 2-core contention).
torch.set_num_threads(1)

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A photo-like test image: smooth gradients plus a little texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = [np.sin(xx / (7 + 5 * c) + c) * np.cos(yy / (9 + 3 * c)) for c in range(3)]
    img = np.stack(base, -1) * 90 + 128 + rng.normal(0, 6, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A randomly initialised tiny quality model, exported like a shipped one."""
    torch.manual_seed(0)
    model = build_model(preset("quality", "tiny"))
    path = tmp_path_factory.mktemp("weights") / "tiny-q.pt"
    export(model, path, settle_steps=200)
    return str(path)


@pytest.fixture(scope="session")
def tiny(tiny_model_path: str):
    return load_model(tiny_model_path)


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    path = tmp_path / "img.png"
    Image.fromarray(smooth_image(48, 80)).save(path)
    return path
