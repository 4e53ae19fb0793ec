"""Torch-free float64 numpy versions of the few tensor ops the prediction networks use.

Layouts follow torch: feature maps are ``[1, C, H, W]`` (one image; a larger batch is run
image by image), conv weights ``[O, C, k, k]``, transposed-conv weights ``[Cin, Cout, k, k]``.
Convolutions are BLAS matrix products (im2col, or one product and a scatter per tap for the
transposed one), never a Python loop over pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Array = np.ndarray


def _check_batch(x: Array) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected a [N, C, H, W] array, got shape {x.shape}")


def _batched(fn: Callable[[Array], Array], x: Array) -> Array:
    """``fn`` applied to each image ``[C, H, W]`` of ``x``, stacked back to ``[N, ...]``."""
    if x.shape[0] == 1:
        return fn(x[0])[None]
    return np.stack([fn(xi) for xi in x])


def _conv2d_one(x: Array, w: Array, stride: int, padding: int) -> Array:
    """``conv2d`` of one image ``[C, H, W]`` without bias: ``[O, Ho, Wo]``."""
    c, h, wd = x.shape
    o, cw, kh, kw = w.shape
    if cw != c:
        raise ValueError(f"conv2d: input has {c} channels, weight expects {cw}")
    hp, wp = h + 2 * padding, wd + 2 * padding
    if padding:  # np.pad costs more than the copy itself on these small maps
        padded = np.zeros((c, hp, wp))
        padded[:, padding:padding + h, padding:padding + wd] = x
        x = padded
    ho, wo = (hp - kh) // stride + 1, (wp - kw) // stride + 1
    if kh == kw == 1 and stride == 1:
        return (w.reshape(o, c) @ x.reshape(c, hp * wp)).reshape(o, ho, wo)
    # im2col through a window view (one copy), then a single BLAS product: measured faster
    # than one product per tap on these small maps.
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride][:, :ho, :wo]
    cols = win.transpose(0, 3, 4, 1, 2).reshape(c * kh * kw, ho * wo)  # [C*k*k, Ho*Wo]
    return (w.reshape(o, c * kh * kw) @ cols).reshape(o, ho, wo)


def conv2d(x: Array, w: Array, b: Array | None = None, stride: int = 1,
           padding: int = 0) -> Array:
    """2-D cross-correlation as :func:`torch.nn.functional.conv2d`: ``x [N, C, H, W]``,
    ``w [O, C, kh, kw]``, zero padding ``padding`` on every side -> ``[N, O, Ho, Wo]``."""
    _check_batch(x)
    out = _batched(lambda xi: _conv2d_one(xi, w, stride, padding), x)
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def _conv_transpose2d_one(x: Array, w: Array, stride: int, padding: int,
                          output_padding: int) -> Array:
    """``conv_transpose2d`` of one image ``[Cin, H, W]`` without bias: ``[Cout, Ho, Wo]``."""
    cin, h, wd = x.shape
    cw, cout, kh, kw = w.shape
    if cw != cin:
        raise ValueError(f"conv_transpose2d: input has {cin} channels, weight expects {cw}")
    ho = (h - 1) * stride - 2 * padding + kh + output_padding
    wo = (wd - 1) * stride - 2 * padding + kw + output_padding
    # Every input pixel scatters a k x k patch: compute all patches in one product, then add
    # each tap's plane at its strided place in the uncropped output.
    patches = (w.reshape(cin, cout * kh * kw).T @ x.reshape(cin, h * wd))
    patches = patches.reshape(cout, kh, kw, h, wd)
    full = np.zeros((cout, (h - 1) * stride + kh + output_padding,
                     (wd - 1) * stride + kw + output_padding))
    for i in range(kh):
        for j in range(kw):
            full[:, i:i + stride * (h - 1) + 1:stride,
                 j:j + stride * (wd - 1) + 1:stride] += patches[:, i, j]
    return full[:, padding:padding + ho, padding:padding + wo]


def conv_transpose2d(x: Array, w: Array, b: Array | None = None, stride: int = 1,
                     padding: int = 0, output_padding: int = 0) -> Array:
    """Transposed convolution as :func:`torch.nn.functional.conv_transpose2d`:
    ``x [N, Cin, H, W]``, ``w [Cin, Cout, kh, kw]`` -> ``[N, Cout, Ho, Wo]`` with
    ``Ho = (H - 1) * stride - 2 * padding + kh + output_padding``."""
    _check_batch(x)
    if not 0 <= output_padding < stride:
        raise ValueError("output_padding must be in [0, stride)")
    out = _batched(lambda xi: _conv_transpose2d_one(xi, w, stride, padding, output_padding), x)
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def avg_pool2_ceil(x: Array) -> Array:
    """``AvgPool2d(2, ceil_mode=True)``: 2x2 means, size rounded up; a partial window at an
    odd edge averages only its valid elements (as torch does with ``padding=0``)."""
    _check_batch(x)
    n, c, h, w = x.shape
    h2, w2 = -(-h // 2), -(-w // 2)
    padded = np.zeros((n, c, 2 * h2, 2 * w2))
    padded[:, :, :h, :w] = x
    sums = padded.reshape(n, c, h2, 2, w2, 2).sum(axis=(3, 5))
    rows = np.full(h2, 2.0)
    cols = np.full(w2, 2.0)
    rows[-1] = 2 - (2 * h2 - h)
    cols[-1] = 2 - (2 * w2 - w)
    return sums / (rows[:, None] * cols[None, :])


def relu(x: Array) -> Array:
    """``max(x, 0)``."""
    return np.maximum(x, 0.0)


def sigmoid(x: Array) -> Array:
    """Logistic function, without overflow for large ``|x|``."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(x: Array, axis: int = -1) -> Array:
    """Softmax along ``axis`` (max-shifted)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def layer_norm(x: Array, weight: Array | None = None, bias: Array | None = None,
               eps: float = 1e-5) -> Array:
    """LayerNorm over the last axis (the channel vector): biased variance, then affine."""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    y = centred / np.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def up_nearest2(x: Array) -> Array:
    """Nearest-neighbour 2x upsampling of ``[N, C, H, W]`` -> ``[N, C, 2H, 2W]``."""
    _check_batch(x)
    return np.repeat(np.repeat(x, 2, axis=2), 2, axis=3)
