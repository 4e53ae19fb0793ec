"""Spatial-mask branch and sparse-mask block (``../shared/design/rpn-reference.md``, sections
1.6-1.8).

Both draw Gumbel noise only in training. At inference the masks are the noise-free softmax,
which makes encoder and decoder compute the same prediction (the reference samples fresh noise
at every run, its bug 1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .cache import inference_active, inference_cached


def gumbel_softmax(logits: Tensor, dim: int, training: bool, tau: float = 1.0) -> Tensor:
    """Softmax of ``(logits + Gumbel noise) / tau`` in training, plain softmax otherwise."""
    if training:
        u = torch.rand_like(logits).clamp_(1e-10, 1 - 1e-10)
        logits = logits - torch.log(-torch.log(u))
    return torch.softmax(logits / tau, dim=dim)


class SpatialMask(nn.Module):
    """Soft mask ``[N, 1, h, w]`` in (0, 1) marking where the sparse path should act.

    conv3x3 -> ReLU -> avgpool 2 -> 2 x (conv3x3 -> ReLU) -> convT3x3/2 (valid) -> ReLU ->
    softmax over 2 logits, channel 1, cropped by one row and column. The pooling rounds up, so
    any size works (the reference needs even sizes; for even sizes the two agree).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        q = max(channels // 4, 1)
        self.body = nn.Sequential(
            nn.Conv2d(channels, q, 3, padding=1), nn.ReLU(),
            nn.AvgPool2d(2, ceil_mode=True),
            nn.Conv2d(q, q, 3, padding=1), nn.ReLU(),
            nn.Conv2d(q, q, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(q, 2, 3, stride=2), nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        logits = self.body(x)[:, :, 1:h + 1, 1:w + 1]
        if inference_active(self):
            # softmax(l)[1] over two logits is sigmoid(l1 - l0). torch's softmax over dim 1
            # splits small maps between threads with vectorised and scalar exp in different
            # places, so its last bits depended on the thread count; the sigmoid does not
            # (tests/test_determinism.py).
            return torch.sigmoid(logits[:, 1:2] - logits[:, 0:1])
        return gumbel_softmax(logits, dim=1, training=self.training)[:, 1:2]


class SparseMaskBlock(nn.Module):
    """SMSR's sparse-mask module as used by the reference (dense path in training form).

    ``ch_mask`` holds, per layer, logits for {dense, sparse} of every channel. ``mask_axis``
    picks the softmax axis: ``"pair"`` (the intended dense/sparse split, default) or
    ``"channel"`` (the reference's behaviour: a softmax over channels, its bug 2).
    """

    def __init__(self, channels: int, n_layers: int = 3, mask_axis: str = "pair") -> None:
        super().__init__()
        if mask_axis not in ("pair", "channel"):
            raise ValueError(f"mask_axis must be 'pair' or 'channel', not {mask_axis!r}")
        self.mask_axis = mask_axis
        self.ch_mask = nn.Parameter(torch.rand(n_layers, 2, channels))
        self.body = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False) for _ in range(n_layers))
        self.collect = nn.Conv2d(n_layers * channels, channels, 1)

    def channel_masks(self) -> tuple[Tensor, Tensor]:
        """``(dense, sparse)`` channel weights, each ``[n_layers, channels]``; noisy in training."""
        cm = gumbel_softmax(self.ch_mask, dim=1 if self.mask_axis == "pair" else 2,
                            training=self.training)
        return cm[:, 0], cm[:, 1]

    def _folded(self) -> tuple[Tensor, Tensor, list[Tensor]]:
        """Inference constants: the channel masks, and per layer after the first one conv weight
        computing both ``body[i](f * dense[i-1])`` and ``body[i](f * sparse[i-1])``.

        The channel masks scale the conv's *input* channels, so they fold into its weight:
        one convolution with twice the outputs replaces two convolutions and two products.
        """
        dense, sparse = self.channel_masks()
        folded = []
        for i in range(1, len(self.body)):
            w = self.body[i].weight
            folded.append(torch.cat([w * dense[i - 1].view(1, -1, 1, 1),
                                     w * sparse[i - 1].view(1, -1, 1, 1)]))
        return dense, sparse, folded

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if inference_active(self):
            return self._forward_folded(x, mask)
        dense, sparse = self.channel_masks()
        dense = dense.view(len(self.body), 1, -1, 1, 1)
        sparse = sparse.view(len(self.body), 1, -1, 1, 1)
        f = F.relu(self.body[0](x) * (sparse[0] * mask + dense[0]))
        feats = [f]
        for i in range(1, len(self.body)):
            fd = self.body[i](f * dense[i - 1])
            fs = self.body[i](f * sparse[i - 1])
            f = F.relu(fd * (sparse[i] * mask + dense[i]) + fs * (sparse[i] + dense[i]) * mask)
            feats.append(f)
        return self.collect(torch.cat(feats, 1))

    def _forward_folded(self, x: Tensor, mask: Tensor) -> Tensor:
        dense, sparse, folded = inference_cached(
            self, "folded", self._folded, self.ch_mask, *(b.weight for b in self.body))
        c = dense.shape[1]
        d = dense.view(len(self.body), 1, c, 1, 1)
        s = sparse.view(len(self.body), 1, c, 1, 1)
        f = torch.relu_(self.body[0](x) * (s[0] * mask + d[0]))
        feats = [f]
        for i in range(1, len(self.body)):
            both = F.conv2d(f, folded[i - 1], padding=self.body[i].padding)
            fd, fs = both[:, :c], both[:, c:]
            f = torch.relu_(fd * (s[i] * mask + d[i]) + fs * ((s[i] + d[i]) * mask))
            feats.append(f)
        return self.collect(torch.cat(feats, 1))
