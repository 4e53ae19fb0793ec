"""QualityRPN: four (or any number of) levels at full resolution
(``../shared/design/rpn-reference.md``, section 3).

Every analysis sees the input image. Level 1 codes its latent directly; level k > 1 is
predicted from ``ŷ_{k-1}`` by the quality cross-resolution context mining module, and
synthesis k reads the concatenation of the decoded latents of levels 1..k. With one level this
is the single-layer baseline.
"""

from __future__ import annotations

from .base import LayeredModel


class QualityRPN(LayeredModel):
    """Quality-scalable RPN: every layer at full resolution, each better than the last."""
