"""SpatialRPN: three levels at 1/4, 1/2 and full resolution
(``../shared/design/rpn-reference.md``, section 2).

Analysis k sees level k of the resolution pyramid the encoder builds from the one input image
(:mod:`rpncodec.pyramid`). Level 1 codes the quarter-resolution image's latent directly; level
k > 1 is predicted by the spatial cross-resolution context mining module, which upsamples the
lower decoded latent by 2. Each synthesis reads only its own level's latent and reconstructs
that level's resolution.

Sizes: input sides are padded to a multiple of 64 (16 for the transforms times 4 for the
quarter level), so every level's latent is exactly twice the one below. The reference needs
multiples of 128 because its mask chain only works on even sizes; ours does not.
"""

from __future__ import annotations

from .base import LayeredModel


class SpatialRPN(LayeredModel):
    """Spatial-scalable RPN: layer k reconstructs ``1 / 2**(layers - k)`` of the input size,
    and is compared with the pyramid level of that size (``forward``'s ``targets``)."""
