"""Global-context block (GCNet; ``../shared/design/rpn-reference.md``, section 1.5)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .cache import inference_active, inference_cached


def sn_conv1x1(cin: int, cout: int) -> nn.Module:
    """Spectrally normalised 1x1 conv, N(0, 0.02) init as in the reference.

    The power-iteration vectors update only in train mode, so inference is deterministic.
    """
    conv = nn.Conv2d(cin, cout, 1)
    nn.init.trunc_normal_(conv.weight, std=0.02)
    nn.init.zeros_(conv.bias)
    return spectral_norm(conv, n_power_iterations=1)


def frozen_weight(conv: nn.Module) -> Tensor:
    """The weight of a (possibly spectrally normalised) conv, cached at inference.

    In eval mode the normalised weight depends only on the raw weight and the frozen power
    iteration vectors, so it is computed once instead of at every call.
    """
    if not inference_active(conv) or not hasattr(conv, "parametrizations"):
        return conv.weight
    p = conv.parametrizations.weight
    return inference_cached(conv, "weight", lambda: conv.weight, p.original, *p[0].buffers())


class _ChannelTransform(nn.Module):
    """1x1 conv -> LayerNorm over channels -> ReLU -> 1x1 conv, on a ``[N, C, 1, 1]`` context."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.inner = sn_conv1x1(channels, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.outer = sn_conv1x1(hidden, channels)

    def forward(self, ctx: Tensor) -> Tensor:
        if inference_active(self):
            # The context is one vector per image: matrix-vector products, not convolutions
            # (a 1x1 conv on a 1x1 map takes a slow generic path).
            n = ctx.shape[0]
            w_in, w_out = frozen_weight(self.inner), frozen_weight(self.outer)
            t = F.linear(ctx.reshape(n, -1), w_in.flatten(1), self.inner.bias)
            t = torch.relu_(self.norm(t))
            return F.linear(t, w_out.flatten(1), self.outer.bias).view(n, -1, 1, 1)
        t = self.inner(ctx)
        t = self.norm(t.flatten(1)).view_as(t)
        return self.outer(torch.relu(t))


class GlobalContext(nn.Module):
    """``x * sigmoid(T0(ctx)) + T1(ctx)`` where ctx is attention-pooled over all positions."""

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or channels
        self.attention = sn_conv1x1(channels, 1)
        self.gate = _ChannelTransform(channels, hidden)
        self.shift = _ChannelTransform(channels, hidden)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        if inference_active(self):
            # The attention logits as a matrix-vector product over pixels: torch's 1x1 conv
            # with one output channel gave results that depended on the thread count.
            pixels = x.permute(0, 2, 3, 1).reshape(n, h * w, c)  # a view when channels-last
            weight = frozen_weight(self.attention).view(1, c, 1).expand(n, c, 1)
            logits = torch.baddbmm(self.attention.bias.view(1, 1, 1), pixels, weight)
            weights = torch.softmax(logits.view(n, 1, h * w), dim=-1)
            ctx = torch.bmm(x.reshape(n, c, h * w), weights.transpose(1, 2)).view(n, c, 1, 1)
            return torch.addcmul(self.shift(ctx), x, torch.sigmoid(self.gate(ctx)))
        weights = torch.softmax(self.attention(x).view(n, 1, h * w), dim=-1)
        ctx = torch.bmm(x.view(n, c, h * w), weights.transpose(1, 2)).view(n, c, 1, 1)
        return x * torch.sigmoid(self.gate(ctx)) + self.shift(ctx)
