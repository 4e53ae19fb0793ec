"""Spatial-mask branch and sparse-mask block (rpn-reference.md sections 1.6-1.8).

Both draw Gumbel noise only in training. At inference the masks are the noise-free softmax,
which makes encoder and decoder compute the same prediction (the reference samples fresh noise
at every run, its bug 1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


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

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        cm = gumbel_softmax(self.ch_mask, dim=1 if self.mask_axis == "pair" else 2,
                            training=self.training)
        dense = cm[:, 0].view(len(self.body), 1, -1, 1, 1)
        sparse = cm[:, 1].view(len(self.body), 1, -1, 1, 1)
        f = F.relu(self.body[0](x) * (sparse[0] * mask + dense[0]))
        feats = [f]
        for i in range(1, len(self.body)):
            fd = self.body[i](f * dense[i - 1])
            fs = self.body[i](f * sparse[i - 1])
            f = F.relu(fd * (sparse[i] * mask + dense[i]) + fs * (sparse[i] + dense[i]) * mask)
            feats.append(f)
        return self.collect(torch.cat(feats, 1))
