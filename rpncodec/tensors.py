"""uint8 image <-> float tensor, written once.

The codec (:mod:`rpncodec.codec`, which re-exports both functions) and the resolution pyramid
(:mod:`rpncodec.pyramid`) must convert in exactly the same way, or a spatial stream's layers
would be compared with references rounded differently from what the decoder writes. This
module imports only torch and numpy, so ``pyramid`` can use it without importing ``codec``
(which imports the models, which import ``pyramid``).
"""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` -> float ``[1, 3, H, W]`` in [0, 1]."""
    return torch.tensor(image).permute(2, 0, 1)[None].float().div(255)


def to_image(x: torch.Tensor) -> np.ndarray:
    """float ``[1, 3, H, W]`` -> uint8 ``[H, W, 3]`` (clipped to [0, 1], then rounded)."""
    return x[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
