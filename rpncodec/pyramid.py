"""The resolution pyramid of spatial mode: what layer k of a spatial stream reconstructs.

Filter: each halving replicate-pads the image to even sides and applies torch's antialiased
bilinear downsampling by exactly 2 (for a factor of 2 this is the separable triangle filter
``[1, 3, 3, 1] / 8``), in float; levels are a cascade of halvings, rounded to 8 bits only at
the end. A level's size is the ceiling division of the original size: ``ceil(H / 2**s)``.
The encoder builds its inputs with :func:`downsample2`, and evaluation compares each decoded
layer with :func:`pyramid_images` of the original, so both use the same filter.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor
from torch.nn import functional as F

from .bitstream import level_size
from .tensors import to_image, to_tensor

__all__ = ["downsample2", "layer_references", "level_size", "pyramid", "pyramid_images"]


def downsample2(x: Tensor) -> Tensor:
    """Halve a float ``[N, C, H, W]`` batch: replicate-pad to even sides, then the
    antialiased bilinear (triangle) filter. Output sides are ``ceil(H / 2)``, ``ceil(W / 2)``."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    return F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True,
                         align_corners=False)


def pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """``levels`` float images from the coarsest to ``x`` itself, each half the next."""
    out = [x]
    for _ in range(levels - 1):
        out.append(downsample2(out[-1]))
    return out[::-1]


def pyramid_images(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """The uint8 ``[H, W, 3]`` reference images of a spatial stream, coarsest first."""
    return [to_image(t) for t in pyramid(to_tensor(image), levels)]


def layer_references(image: np.ndarray, shifts: tuple[int, ...]) -> list[np.ndarray]:
    """What each layer of a file with these layer shifts is compared with: ``image`` halved
    that many times by the pyramid the model was trained on (the image itself at shift 0)."""
    top = max(shifts)
    levels = pyramid_images(image, top + 1) if top else [image]
    return [levels[top - s] for s in shifts]
