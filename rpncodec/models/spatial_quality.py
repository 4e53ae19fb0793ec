"""SpatialQualityRPN: one stream that is scalable in size and then in quality.

Levels 1-3 are a spatial RPN (:mod:`.spatial`): 1/4, 1/2 and full resolution, each level
predicted from the one below by spatial context mining and each synthesis reading its own
latent. The levels above are full-resolution quality levels (:mod:`.quality`): level k > 3 is
predicted from ``ŷ_{k-1}`` by quality context mining, and its synthesis reads the decoded
latents of levels 3..k. So one file decodes to a thumbnail, a preview, the full image, and
then sharper full images, as JPEG 2000's resolution levels times quality layers do.

Training starts from the shipped spatial model's three levels and the quality model's upper
levels (:func:`rpncodec.training.warmstart.spatial_quality_from`).
"""

from __future__ import annotations

from .base import LayeredModel


class SpatialQualityRPN(LayeredModel):
    """Spatial-quality RPN: layers 1-3 at 1/4, 1/2 and full size, then full-size layers of
    increasing quality (:attr:`ModelConfig.layer_shifts`)."""
