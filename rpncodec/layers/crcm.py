"""Cross-resolution context mining: information-enhance and redundancy-removal blocks and the
prediction modules built from them (rpn-reference.md sections 1.9, 1.10, 2.3 and 3.4).

A prediction module maps the decoded latent of level k-1 to a *resolution field*: a prior for
level k's latent, subtracted before coding so level k only codes what is new. The IEB goes up
one octave and enriches (global context); the RRB goes down one octave and distils (spatial mask
+ sparse-mask block + global context). Alternating them mines context across resolutions.

Sizes: the RRB halves with rounding up and the IEB doubles and is cropped to its skip input, so
any latent size works (the reference needs even sizes at every stage).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .context import GlobalContext
from .masks import SparseMaskBlock, SpatialMask


def up2(cin: int, cout: int, kernel: int = 3) -> nn.ConvTranspose2d:
    """Transposed conv giving exactly twice the input size."""
    return nn.ConvTranspose2d(cin, cout, kernel, stride=2, padding=kernel // 2, output_padding=1)


class InformationEnhance(nn.Module):
    """IEB: ``ReLU(convT up2) -> GC -> 1x1`` over ``[that, skip]``; output ``out`` channels.

    ``width`` is the block's nominal width F; the upsampled features have F//2 channels.
    With ``skip=0`` this is the head variant (no concatenation).
    """

    def __init__(self, cin: int, width: int, skip: int = 0, out: int | None = None) -> None:
        super().__init__()
        half = width // 2
        self.up = up2(cin, half)
        self.context = GlobalContext(half)
        self.fuse = nn.Conv2d(half + skip, out or half, 1)

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        g = self.context(torch.relu(self.up(x)))
        if skip is not None:
            g = torch.cat([g[..., : skip.shape[-2], : skip.shape[-1]], skip], 1)
        return self.fuse(g)


class RedundancyRemoval(nn.Module):
    """RRB: ``ReLU(conv3x3/2) -> SMB(mask) -> GC + residual -> 1x1`` over ``[that, skip]``."""

    def __init__(self, cin: int, channels: int, skip: int = 0, mask_axis: str = "pair") -> None:
        super().__init__()
        self.down = nn.Conv2d(cin, channels, 3, stride=2, padding=1)
        self.mask = SpatialMask(channels)
        self.sparse = SparseMaskBlock(channels, 3, mask_axis)
        self.context = GlobalContext(channels)
        self.fuse = nn.Conv2d(channels + skip, channels, 1)

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        t = torch.relu(self.down(x))
        o = self.context(self.sparse(t, self.mask(t))) + t
        if skip is not None:
            o = torch.cat([o, skip], 1)
        return self.fuse(o)


class QualityPrediction(nn.Module):
    """Quality-mode context mining: ``[Ff, h, w] -> [Fl, h, w]`` (down first, then up)."""

    def __init__(self, ff: int, fl: int, mask_axis: str = "pair") -> None:
        super().__init__()
        hf = ff // 2
        self.rrb0 = RedundancyRemoval(ff, ff, 0, mask_axis)
        self.ieb1 = InformationEnhance(ff, ff, skip=ff)
        self.rrb2 = RedundancyRemoval(hf, ff, ff, mask_axis)
        self.ieb3 = InformationEnhance(ff, ff, skip=hf)
        self.rrb4 = RedundancyRemoval(hf, fl, ff, mask_axis)
        self.ieb5 = InformationEnhance(fl, fl, skip=hf, out=fl)

    def forward(self, z: Tensor) -> Tensor:
        x0 = self.rrb0(z)
        x1 = self.ieb1(x0, z)
        x2 = self.rrb2(x1, x0)
        x3 = self.ieb3(x2, x1)
        x4 = self.rrb4(x3, x2)
        return self.ieb5(x4, x3)


class SpatialPrediction(nn.Module):
    """Spatial-mode context mining: ``[Ff, h, w] -> [Fl, 2h, 2w]`` (up first)."""

    def __init__(self, ff: int, fl: int, mask_axis: str = "pair") -> None:
        super().__init__()
        hf = ff // 2
        self.ieb1 = InformationEnhance(ff, ff)
        self.rrb2 = RedundancyRemoval(hf, ff, ff, mask_axis)
        self.ieb3 = InformationEnhance(ff, ff, skip=hf)
        self.rrb4 = RedundancyRemoval(hf, fl, ff, mask_axis)
        self.ieb5 = InformationEnhance(fl, fl, skip=hf, out=fl)

    def forward(self, z: Tensor) -> Tensor:
        x1 = self.ieb1(z)
        x2 = self.rrb2(x1, z)
        x3 = self.ieb3(x2, x1)
        x4 = self.rrb4(x3, x2)
        return self.ieb5(x4, x3)
