"""Cross-resolution context mining: information-enhance and redundancy-removal blocks and the
prediction modules built from them (``../shared/design/rpn-reference.md``, sections 1.9, 1.10,
2.3 and 3.4).

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
from torch.nn import functional as F

from .cache import inference_active, inference_cached
from .context import GlobalContext
from .masks import SparseMaskBlock, SpatialMask

# At inference a transposed conv with at most NARROW_OUT outputs (a synthesis' last layer) runs
# as a sub-pixel conv; wider ones run as torch's transposed conv, measured faster for them on
# CPU (docs/performance.md). NARROW_METHOD = "direct" turns the sub-pixel form off.
NARROW_OUT = 8
NARROW_METHOD = "subpixel"


class Up2(nn.ConvTranspose2d):
    """A stride-2 transposed conv (odd kernel <= 5, padding kernel // 2, output padding 1),
    giving exactly twice the input size; parameters and training behaviour are
    :class:`torch.nn.ConvTranspose2d`'s.

    At inference a narrow one runs as the equivalent *sub-pixel* convolution: each of the four
    output phases (even/odd row and column) is a 3x3 convolution of the input with a subset of
    the kernel's taps, so one 3x3 conv with 4x the outputs followed by a pixel shuffle gives
    the same result (up to float rounding) as a dense conv instead of a scatter.
    """

    def subpixel_params(self) -> tuple[Tensor, Tensor | None]:
        w = self.weight  # [cin, cout, k, k]
        cin, cout, k, _ = w.shape
        p = k // 2
        sub = w.new_zeros(cout, 2, 2, cin, 3, 3)
        for ry in range(2):
            for rx in range(2):
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ty, tx = ry + p - 2 * dy, rx + p - 2 * dx  # kernel tap of offset d
                        if 0 <= ty < k and 0 <= tx < k:
                            sub[:, ry, rx, :, dy + 1, dx + 1] = w[:, :, ty, tx].t()
        bias = None if self.bias is None else self.bias.repeat_interleave(4)
        return sub.reshape(4 * cout, cin, 3, 3), bias

    def _method(self) -> str:
        k = self.kernel_size[0]
        usual = (self.kernel_size == (k, k) and k in (3, 5) and self.stride == (2, 2)
                 and self.padding == (k // 2, k // 2) and self.output_padding == (1, 1)
                 and self.dilation == (1, 1) and self.groups == 1)
        return NARROW_METHOD if usual and self.out_channels <= NARROW_OUT else "direct"

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if output_size is not None or not inference_active(self):
            return super().forward(x, output_size)
        method = self._method()
        sources = (self.weight,) if self.bias is None else (self.weight, self.bias)
        if method == "subpixel":
            w, b = inference_cached(self, "subpixel", self.subpixel_params, *sources)
            return F.pixel_shuffle(F.conv2d(x, w, b, padding=1), 2)
        return super().forward(x, output_size)


def up2(cin: int, cout: int, kernel: int = 3) -> nn.ConvTranspose2d:
    """Transposed conv giving exactly twice the input size."""
    return Up2(cin, cout, kernel, stride=2, padding=kernel // 2, output_padding=1)


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


class _Prediction(nn.Module):
    """A context-mining chain whose last block, ``ieb5``, makes the resolution field."""

    ieb5: InformationEnhance

    @torch.no_grad()
    def zero_output(self) -> None:
        """Make the field exactly zero (a warm start from independent levels: the residual
        is then the latent itself)."""
        self.ieb5.fuse.weight.zero_()
        self.ieb5.fuse.bias.zero_()


class QualityPrediction(_Prediction):
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


class SpatialPrediction(_Prediction):
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
