"""QualityRPN: four (or any number of) levels at full resolution
(``../shared/design/rpn-reference.md``, section 3).

Every analysis sees the input image. Level 1 codes its latent directly; level k > 1 is
predicted from ``ŷ_{k-1}`` by the quality cross-resolution context mining module, and
synthesis k reads the concatenation of the decoded latents of levels 1..k. With one level this
is the single-layer baseline.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..latent_codecs import build_latent_codec
from ..layers.crcm import QualityPrediction
from .base import LayeredModel
from .config import ModelConfig
from .level import Level, prediction
from .transforms import analysis, synthesis


class QualityRPN(LayeredModel):
    """Quality-scalable RPN: every layer at full resolution, each better than the last."""

    def __init__(self, config: ModelConfig) -> None:
        w = config.widths
        super().__init__(config, [
            Level(analysis(w[k]), build_latent_codec(config.latent_codecs[k], w, k),
                  synthesis(sum(w[: k + 1]), w[k]),
                  prediction(config, k, QualityPrediction) if k else None)
            for k in range(len(w))])

    def level_inputs(self, x: Tensor, levels: int) -> list[Tensor]:
        return [x] * levels

    def synthesis_input(self, k: int, y_hat: list[Tensor]) -> Tensor:
        return torch.cat(y_hat[: k + 1], 1)
