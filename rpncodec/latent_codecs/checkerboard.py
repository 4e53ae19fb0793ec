"""Spatial context in two passes (a checkerboard, He et al. 2021) on top of a Gaussian codec.

The Gaussian codecs (:mod:`.conditional`, :mod:`.hyperprior`) predict every element's scale
from what the decoder holds before the level: the lower level, or side information. Neither
sees the level's own neighbours, which carry what those priors miss (an edge runs on, a flat
area stays flat). A checkerboard splits the latent grid: *anchors* (``(i + j)`` even) are coded
first under the base scales; the other half, the *non-anchors*, under scales corrected by a
small head that reads the decoded anchor symbols around them. Two passes, each fully parallel
(a serial context model would need one network pass per element).

Only scales change: every symbol, and so every decoded latent, is the base codec's. A base
model converted to its checkerboard twin starts with the head's last layer at zero, exactly
the base codec, and training the head can only change the bits. The payload of the coded
latent becomes ``len(anchor bytes)`` (u32) | anchor bytes | non-anchor bytes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..entropy.coding import join_parts, split_parts
from ..layers.cache import in_dtype
from .conditional import ConditionalResidual
from .hyperprior import HyperpriorLatent


def anchor_mask(size: tuple[int, int], like: Tensor) -> Tensor:
    """``[1, 1, *size]`` boolean: True on the anchors, the elements with ``i + j`` even."""
    i = torch.arange(size[0], device=like.device).view(-1, 1)
    j = torch.arange(size[1], device=like.device).view(1, -1)
    return ((i + j) % 2 == 0).view(1, 1, *size)


def context_head(channels: int) -> nn.Sequential:
    """[log base scale, anchor symbols] -> a log-scale correction per element; 5x5 first so
    each non-anchor sees its twelve nearest anchors, the last layer zero (no correction)."""
    last = nn.Conv2d(channels, channels, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Conv2d(2 * channels, channels, 5, padding=2), nn.ReLU(),
                         nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(), last)


class Checkerboard:
    """Mixin for a Gaussian latent codec: codes its symbols in two checkerboard passes.

    The codec routes its Gaussian coding through ``_rate``, ``_encode`` and ``_decode``
    (scales and mean-centred symbols of the whole latent); this mixin overrides them.
    """

    context: nn.Module

    def _context_scales(self, symbols: Tensor, scale: Tensor, anchors: Tensor) -> Tensor:
        """The scales after the first pass: the base scale on the anchors, the corrected one
        elsewhere (``symbols`` need only be right on the anchors)."""
        head = in_dtype(self.context, scale.dtype)
        log_scale = torch.log(scale)
        delta = head(torch.cat([log_scale, symbols * anchors], 1))
        return torch.where(anchors, scale, torch.exp(log_scale + delta))

    def _rate(self, r_hat: Tensor, r_rate: Tensor, scale: Tensor) -> Tensor:
        anchors = anchor_mask(scale.shape[-2:], scale)
        return super()._rate(r_hat, r_rate, self._context_scales(r_hat, scale, anchors))

    def _encode(self, symbols: Tensor, scale: Tensor) -> bytes:
        anchors = anchor_mask(scale.shape[-2:], scale).expand_as(scale)
        first = self.gaussian.compress(symbols[anchors], scale[anchors])
        scale = self._context_scales(symbols, scale, anchors)
        return join_parts(first, self.gaussian.compress(symbols[~anchors], scale[~anchors]))

    def _decode(self, data: bytes, scale: Tensor) -> Tensor:
        first, rest = split_parts(data, "anchor")
        anchors = anchor_mask(scale.shape[-2:], scale).expand_as(scale)
        symbols = torch.zeros_like(scale)
        symbols[anchors] = self.gaussian.decompress(first, scale[anchors]).to(scale)
        scale = self._context_scales(symbols, scale, anchors)
        symbols[~anchors] = self.gaussian.decompress(rest, scale[~anchors]).to(scale)
        return symbols


class CheckerboardConditional(Checkerboard, ConditionalResidual):
    """:class:`ConditionalResidual` (enhancement levels) with a checkerboard context."""

    def __init__(self, channels: int, lower_channels: int | None = None, **options: bool
                 ) -> None:
        super().__init__(channels, lower_channels, **options)
        self.context = context_head(channels)


class CheckerboardHyperprior(Checkerboard, HyperpriorLatent):
    """:class:`HyperpriorLatent` (level 1) with a checkerboard context."""

    def __init__(self, channels: int, hyper: int | None = None, means: bool = False) -> None:
        super().__init__(channels, hyper, means)
        self.context = context_head(channels)
