"""Synthetic inputs shared by the tests, the fuzzer and the benchmarks (no data files needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..zoo import LoadedModel


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A photo-like uint8 RGB test image: smooth gradients plus a little texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = [np.sin(xx / (7 + 5 * c) + c) * np.cos(yy / (9 + 3 * c)) for c in range(3)]
    img = np.stack(base, -1) * 90 + 128 + rng.normal(0, 6, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def tiny_model(folder: str | Path, seed: int = 0, settle_steps: int = 200,
               mode: str = "quality") -> LoadedModel:
    """Export (to ``folder/tiny-<mode>.pt``) and load a randomly initialised tiny model."""
    import torch

    from ..models import build_model, preset
    from ..training.export import export
    from ..zoo import load_model

    torch.manual_seed(seed)
    path = Path(folder) / ("tiny-q.pt" if mode == "quality" else f"tiny-{mode}.pt")
    export(build_model(preset(mode, "tiny")), path, settle_steps=settle_steps)
    return load_model(str(path))
