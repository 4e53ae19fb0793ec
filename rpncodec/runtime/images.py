"""uint8 images <-> float arrays and the spatial-mode pyramid, in numpy (torch-free twins of
:mod:`rpncodec.tensors` and :mod:`rpncodec.pyramid`)."""

from __future__ import annotations

import numpy as np


def to_array(image: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W, 3]`` -> float32 ``[1, 3, H, W]`` in [0, 1]."""
    return (image.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255))


def to_image(x: np.ndarray) -> np.ndarray:
    """float ``[1, 3, H, W]`` -> uint8 ``[H, W, 3]``: clipped to [0, 1], scaled by 255 and
    rounded half to even in float32, as :func:`rpncodec.tensors.to_image`. NaN (only a damaged
    file's latents can make one) becomes 0."""
    x = np.nan_to_num(x[0].astype(np.float32, copy=False), nan=0.0)
    x = np.clip(x, 0, 1) * np.float32(255)
    return np.round(x).astype(np.uint8).transpose(1, 2, 0)


def _halving_matrix(n: int) -> np.ndarray:
    """``[ceil(n/2), n]`` weights of torch's antialiased bilinear downsampling by 2 along an
    axis of even length ``n``: the triangle filter ``[1, 3, 3, 1] / 8``, with the taps that
    fall outside the image dropped and the rest renormalised (torch's border rule)."""
    out = n // 2
    w = np.zeros((out, n), dtype=np.float64)
    for i in range(out):
        center = 2.0 * (i + 0.5)
        lo = max(int(center - 2 + 0.5), 0)
        hi = min(int(center + 2 + 0.5), n)
        taps = np.arange(lo, hi)
        weights = np.maximum(1 - np.abs((taps - center + 0.5) / 2), 0)
        w[i, lo:hi] = weights / weights.sum()
    return w.astype(np.float32)


def downsample2(x: np.ndarray) -> np.ndarray:
    """Halve a float ``[1, C, H, W]`` image: replicate-pad to even sides, then the triangle
    filter (:func:`rpncodec.pyramid.downsample2`, up to float rounding)."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = np.pad(x, ((0, 0), (0, 0), (0, h % 2), (0, w % 2)), mode="edge")
    rows, cols = _halving_matrix(x.shape[-2]), _halving_matrix(x.shape[-1])
    return np.ascontiguousarray(rows @ x @ cols.T)


def pyramid(x: np.ndarray, levels: int) -> list[np.ndarray]:
    """``levels`` float images from the coarsest to ``x`` itself, each half the next."""
    out = [x]
    for _ in range(levels - 1):
        out.append(downsample2(out[-1]))
    return out[::-1]
