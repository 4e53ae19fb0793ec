"""One level of the reciprocal pyramid: analysis, latent codec, prediction and synthesis.

Level k turns its input image into a latent ``y_k`` (analysis), predicts that latent from the
level below's decoded latent (prediction: the cross-resolution context mining module, whose
output is the *resolution field*; level 1 has none), entropy-codes ``y_k`` given what the
decoder holds (latent codec, :mod:`rpncodec.latent_codecs`) and reconstructs layer k
(synthesis). What a synthesis reads differs between modes, so the model calls it
(:class:`~rpncodec.models.base.LayeredModel`).
"""

from __future__ import annotations

from torch import Tensor, nn

from ..latent_codecs import Context, LatentCodec
from ..latent_codecs.base import CODING_DTYPE
from ..layers.cache import in_dtype
from ..layers.crcm import QualityPrediction, SpatialPrediction
from ..layers.plain import PlainPrediction
from .config import ModelConfig


class Level(nn.Module):
    """The four parts of one level; ``prediction`` is None for the first level."""

    def __init__(self, analysis: nn.Module, latent_codec: LatentCodec, synthesis: nn.Module,
                 prediction: nn.Module | None = None) -> None:
        super().__init__()
        self.analysis = analysis
        self.latent_codec = latent_codec
        self.prediction = prediction
        self.synthesis = synthesis

    def context(self, lower: Tensor | None, size: tuple[int, int]) -> Context:
        """What the decoder holds before this level: the lower decoded latent and the
        resolution field predicted from it, cut to this level's latent ``size`` (spatial
        predictions double the lower size, which may exceed an odd-sized level by one)."""
        if self.prediction is None or lower is None:
            return Context()
        prior = in_dtype(self.prediction, lower.dtype)(lower)[..., : size[0], : size[1]]
        return Context(lower, prior)

    def forward(self, x: Tensor, lower: Tensor | None,
                y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Training: ``(y_hat, likelihoods)`` of this level for input ``x``, or for the latent
        ``y`` when given (an encoder's refined latent, :mod:`.refine`) instead of ``x``'s."""
        y = self.analysis(x) if y is None else y
        return self.latent_codec(y, self.context(lower, y.shape[-2:]))

    def compress(self, x: Tensor, lower: Tensor | None,
                 y: Tensor | None = None) -> tuple[bytes, Tensor]:
        """This level's bytes (of ``x``'s latent, or of ``y`` when given) and the ``y_hat`` (in
        ``CODING_DTYPE``) the decoder will rebuild from them."""
        y = (self.analysis(x) if y is None else y).to(CODING_DTYPE)
        return self.latent_codec.compress(y, self.context(lower, y.shape[-2:]))

    def decompress(self, data: bytes, size: tuple[int, int], lower: Tensor | None) -> Tensor:
        """``y_hat`` of this level from its bytes and the level below's ``y_hat``."""
        return self.latent_codec.decompress(data, size, self.context(lower, size))


def prediction(config: ModelConfig, k: int) -> nn.Module:
    """Level ``k``'s (k > 0) prediction module from level k-1: spatial context mining when
    level k's layer is twice the size of level k-1's, quality context mining when both are the
    same size; or the plain predictor when ``config.prediction == "plain"``."""
    ff, fl = config.widths[k - 1], config.widths[k]
    upsample = config.layer_shifts[k - 1] > config.layer_shifts[k]
    if config.prediction == "plain":
        return PlainPrediction(ff, fl, upsample=upsample)
    crcm = SpatialPrediction if upsample else QualityPrediction
    return crcm(ff, fl, config.mask_axis)
