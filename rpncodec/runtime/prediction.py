"""Torch-free float64 prediction networks (cross-resolution context mining).

Mirrors the *inference* path of :class:`rpncodec.layers.crcm.QualityPrediction` and
:class:`~rpncodec.layers.crcm.SpatialPrediction` (eval mode, no autograd), so a decoder without
PyTorch computes the same resolution field as torch does in float64:

* spectrally normalised 1x1 convs use ``W / sigma`` with ``sigma = u . (W_mat v)`` from the
  stored power-iteration vectors (no power iteration: eval mode);
* the spatial mask is ``sigmoid(l1 - l0)`` of its cropped logits and the sparse-mask block's
  channel masks the noise-free softmax of ``ch_mask`` (no Gumbel noise);
* the global-context block's channel transforms use LayerNorm with eps 1e-12.

All derived weights are computed once, in float64, from the raw state-dict values.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import ops

Array = np.ndarray
LN_EPS = 1e-12  # the channel transforms' LayerNorm eps (rpncodec/layers/context.py)


class _Params:
    """A view of a flat state dict under a key prefix; records which keys were read."""

    def __init__(self, values: Mapping[str, Array], prefix: str = "",
                 used: set[str] | None = None) -> None:
        self._values = values
        self._prefix = prefix
        self.used: set[str] = set() if used is None else used

    def __getitem__(self, name: str) -> Array:
        key = self._prefix + name
        if key not in self._values:
            raise KeyError(f"prediction parameters lack {key!r}")
        self.used.add(key)
        return self._values[key]

    def __contains__(self, name: str) -> bool:
        return self._prefix + name in self._values

    def sub(self, prefix: str) -> _Params:
        return _Params(self._values, f"{self._prefix}{prefix}.", self.used)

    def count(self, prefix: str) -> int:
        """How many consecutive ``prefix.0``, ``prefix.1``, ... entries have a weight."""
        n = 0
        while f"{prefix}.{n}.weight" in self:
            n += 1
        return n


def _conv_weight(p: _Params) -> Array:
    """A conv's weight; for a spectrally normalised one, the eval-mode ``W / sigma``.

    As ``torch.nn.utils.parametrizations.spectral_norm`` (dim 0) in eval mode:
    ``sigma = vdot(u, W.flatten(1) @ v)`` with the stored ``u`` and ``v``.
    """
    if "weight" in p:
        return p["weight"]
    w = p["parametrizations.weight.original"]
    u = p["parametrizations.weight.0._u"]
    v = p["parametrizations.weight.0._v"]
    sigma = float(np.vdot(u, w.reshape(w.shape[0], -1) @ v))
    return w / sigma


class _ChannelTransform:
    """``1x1 conv -> LayerNorm -> ReLU -> 1x1 conv`` on one context vector ``[C]``."""

    def __init__(self, p: _Params) -> None:
        w_in = _conv_weight(p.sub("inner"))
        self.w_in = w_in.reshape(w_in.shape[0], -1)
        self.b_in = p["inner.bias"]
        self.ln_w, self.ln_b = p["norm.weight"], p["norm.bias"]
        w_out = _conv_weight(p.sub("outer"))
        self.w_out = w_out.reshape(w_out.shape[0], -1)
        self.b_out = p["outer.bias"]

    def __call__(self, ctx: Array) -> Array:
        t = self.w_in @ ctx + self.b_in
        t = ops.relu(ops.layer_norm(t, self.ln_w, self.ln_b, LN_EPS))
        return self.w_out @ t + self.b_out


class _GlobalContext:
    """GC block: ``x * sigmoid(gate(ctx)) + shift(ctx)``, ctx attention-pooled over pixels."""

    def __init__(self, p: _Params) -> None:
        self.att_w = _conv_weight(p.sub("attention")).reshape(-1)  # one output channel
        self.att_b = p["attention.bias"]
        self.gate = _ChannelTransform(p.sub("gate"))
        self.shift = _ChannelTransform(p.sub("shift"))

    def __call__(self, x: Array) -> Array:
        _, c, h, w = x.shape
        pixels = x.reshape(c, h * w)
        weights = ops.softmax(self.att_w @ pixels + self.att_b, axis=-1)  # [h*w]
        ctx = pixels @ weights  # [C]
        gate = ops.sigmoid(self.gate(ctx)).reshape(1, c, 1, 1)
        return self.shift(ctx).reshape(1, c, 1, 1) + x * gate


class _SpatialMask:
    """Soft spatial mask ``[1, 1, h, w]``: conv stack with a 2x down/up, ``sigmoid(l1 - l0)``."""

    def __init__(self, p: _Params) -> None:
        self.convs = [(p[f"body.{i}.weight"], p[f"body.{i}.bias"]) for i in (0, 3, 5)]
        self.up_w, self.up_b = p["body.7.weight"], p["body.7.bias"]

    def __call__(self, x: Array) -> Array:
        h, w = x.shape[-2:]
        (w0, b0), (w1, b1), (w2, b2) = self.convs
        y = ops.relu(ops.conv2d(x, w0, b0, padding=w0.shape[-1] // 2))
        y = ops.avg_pool2_ceil(y)
        y = ops.relu(ops.conv2d(y, w1, b1, padding=w1.shape[-1] // 2))
        y = ops.relu(ops.conv2d(y, w2, b2, padding=w2.shape[-1] // 2))
        y = ops.relu(ops.conv_transpose2d(y, self.up_w, self.up_b, stride=2))
        logits = y[:, :, 1:h + 1, 1:w + 1]
        return ops.sigmoid(logits[:, 1:2] - logits[:, 0:1])


class _SparseMask:
    """Sparse-mask block at inference: noise-free channel masks folded into the convs."""

    def __init__(self, p: _Params, mask_axis: str) -> None:
        ch_mask = p["ch_mask"]  # [layers, 2 (dense, sparse), C]
        cm = ops.softmax(ch_mask, axis=1 if mask_axis == "pair" else 2)
        n = ch_mask.shape[0]
        self.dense = [cm[i, 0].reshape(1, -1, 1, 1) for i in range(n)]
        self.sparse = [cm[i, 1].reshape(1, -1, 1, 1) for i in range(n)]
        if p.count("body") != n:
            raise ValueError(f"sparse-mask block has {p.count('body')} convs for {n} masks")
        body = [p[f"body.{i}.weight"] for i in range(n)]
        self.first = body[0]
        # Layer i >= 1 convolves f * dense[i-1] and f * sparse[i-1]: the channel masks scale
        # the conv's input channels, so both are one conv with twice the outputs.
        self.folded = [np.concatenate([w * self.dense[i - 1], w * self.sparse[i - 1]])
                       for i, w in enumerate(body) if i > 0]
        self.collect_w, self.collect_b = p["collect.weight"], p["collect.bias"]

    def __call__(self, x: Array, mask: Array) -> Array:
        pad = self.first.shape[-1] // 2
        d, s = self.dense, self.sparse
        f = ops.relu(ops.conv2d(x, self.first, padding=pad) * (s[0] * mask + d[0]))
        feats = [f]
        for i, w in enumerate(self.folded, start=1):
            both = ops.conv2d(f, w, padding=w.shape[-1] // 2)
            c = both.shape[1] // 2
            fd, fs = both[:, :c], both[:, c:]
            f = ops.relu(fd * (s[i] * mask + d[i]) + fs * ((s[i] + d[i]) * mask))
            feats.append(f)
        return ops.conv2d(np.concatenate(feats, 1), self.collect_w, self.collect_b)


class _RedundancyRemoval:
    """RRB: ``ReLU(conv3x3/2) -> SMB(mask) -> GC + residual -> 1x1`` over ``[that, skip]``."""

    def __init__(self, p: _Params, mask_axis: str) -> None:
        self.down_w, self.down_b = p["down.weight"], p["down.bias"]
        self.mask = _SpatialMask(p.sub("mask"))
        self.sparse = _SparseMask(p.sub("sparse"), mask_axis)
        self.context = _GlobalContext(p.sub("context"))
        self.fuse_w, self.fuse_b = p["fuse.weight"], p["fuse.bias"]

    def __call__(self, x: Array, skip: Array | None = None) -> Array:
        pad = self.down_w.shape[-1] // 2
        t = ops.relu(ops.conv2d(x, self.down_w, self.down_b, stride=2, padding=pad))
        o = self.context(self.sparse(t, self.mask(t))) + t
        if skip is not None:
            o = np.concatenate([o, skip], 1)
        return ops.conv2d(o, self.fuse_w, self.fuse_b)


class _InformationEnhance:
    """IEB: ``ReLU(convT up2) -> GC -> 1x1`` over ``[that cropped to skip, skip]``."""

    def __init__(self, p: _Params) -> None:
        self.up_w, self.up_b = p["up.weight"], p["up.bias"]
        self.context = _GlobalContext(p.sub("context"))
        self.fuse_w, self.fuse_b = p["fuse.weight"], p["fuse.bias"]

    def __call__(self, x: Array, skip: Array | None = None) -> Array:
        up = ops.conv_transpose2d(x, self.up_w, self.up_b, stride=2,
                                  padding=self.up_w.shape[-1] // 2, output_padding=1)
        g = self.context(ops.relu(up))
        if skip is not None:
            g = np.concatenate([g[..., : skip.shape[-2], : skip.shape[-1]], skip], 1)
        return ops.conv2d(g, self.fuse_w, self.fuse_b)


class Prediction:
    """A prediction module's inference forward in float64 numpy.

    ``kind`` is ``"quality"`` (``[1, Ff, h, w] -> [1, Fl, h, w]``) or ``"spatial"``
    (``[1, Ff, h, w] -> [1, Fl, 2h, 2w]``); ``mask_axis`` is the sparse-mask blocks' softmax
    axis (``"pair"`` or ``"channel"``); ``params`` are the module's state-dict entries (keys
    relative to it, e.g. ``"rrb0.down.weight"``), converted here to float64.
    """

    def __init__(self, kind: str, mask_axis: str, params: Mapping[str, Array]) -> None:
        if kind not in ("quality", "spatial"):
            raise ValueError(f"kind must be 'quality' or 'spatial', not {kind!r}")
        if mask_axis not in ("pair", "channel"):
            raise ValueError(f"mask_axis must be 'pair' or 'channel', not {mask_axis!r}")
        self.kind = kind
        self.mask_axis = mask_axis
        values = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in params.items()}
        p = _Params(values)
        if kind == "quality":
            self.rrb0 = _RedundancyRemoval(p.sub("rrb0"), mask_axis)
            self.ieb1 = _InformationEnhance(p.sub("ieb1"))
            self.in_channels = self.rrb0.down_w.shape[1]
        else:
            self.ieb1 = _InformationEnhance(p.sub("ieb1"))
            self.in_channels = self.ieb1.up_w.shape[0]
        self.rrb2 = _RedundancyRemoval(p.sub("rrb2"), mask_axis)
        self.ieb3 = _InformationEnhance(p.sub("ieb3"))
        self.rrb4 = _RedundancyRemoval(p.sub("rrb4"), mask_axis)
        self.ieb5 = _InformationEnhance(p.sub("ieb5"))
        self.out_channels = self.ieb5.fuse_w.shape[0]
        unused = sorted(set(values) - p.used)
        if unused:
            raise ValueError(f"unexpected prediction parameters: {unused[:5]}")

    def __call__(self, z: Array) -> Array:
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 4 or z.shape[1] != self.in_channels:
            raise ValueError(f"expected [N, {self.in_channels}, h, w], got {z.shape}")
        if z.shape[0] != 1:
            return np.concatenate([self(z[i:i + 1]) for i in range(z.shape[0])])
        if self.kind == "quality":
            x0 = self.rrb0(z)
            x1 = self.ieb1(x0, z)
            x2 = self.rrb2(x1, x0)
        else:
            x1 = self.ieb1(z)
            x2 = self.rrb2(x1, z)
        x3 = self.ieb3(x2, x1)
        x4 = self.rrb4(x3, x2)
        return self.ieb5(x4, x3)


class PlainPrediction:
    """:class:`rpncodec.layers.plain.PlainPrediction` in float64 numpy (``params`` as for
    :class:`Prediction`)."""

    def __init__(self, params: Mapping[str, Array], upsample: bool) -> None:
        p = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in params.items()}
        self.up = (p["up.weight"], p["up.bias"]) if upsample else None
        self.body = [(p[f"body.{i}.weight"], p[f"body.{i}.bias"]) for i in (0, 2, 4)]

    def __call__(self, z: Array) -> Array:
        z = np.asarray(z, dtype=np.float64)
        if self.up is not None:
            z = ops.relu(ops.conv_transpose2d(z, *self.up, stride=2, padding=1,
                                              output_padding=1))
        for i, (w, b) in enumerate(self.body):
            z = ops.conv2d(z, w, b, padding=1)
            z = ops.relu(z) if i < 2 else z
        return z
