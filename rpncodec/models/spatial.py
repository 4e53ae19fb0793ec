"""SpatialRPN: three levels at 1/4, 1/2 and full resolution (rpn-reference.md section 2).

The encoder builds the resolution pyramid itself from the one input image
(:mod:`rpncodec.pyramid`). Level 1 codes the quarter-resolution image's latent directly; level
k > 1 codes ``y_k - P_k(yhat_{k-1})``, where P_k (the spatial cross-resolution context mining
module) upsamples the lower decoded latent by 2 into a prior for this level. Each synthesis
reads only its own level's latent and reconstructs that level's resolution.

Sizes: input sides are padded to a multiple of ``STRIDE`` = 64 (16 for the transforms times 4
for the quarter level), so every level's latent is exactly twice the one below. The reference
needs multiples of 128 because its mask chain only works on even sizes; ours does not.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..entropy.factorized import EntropyBottleneck
from ..layers.crcm import SpatialPrediction
from ..pyramid import pyramid
from .base import LayeredModel
from .config import ModelConfig
from .transforms import analysis, synthesis

STRIDE = 64  # input sides are padded to a multiple of this
LATENT_STRIDE = 16  # of each level's transforms


class SpatialRPN(LayeredModel):
    """Spatial-scalable RPN; same contract as :class:`~rpncodec.models.quality.QualityRPN`,
    except that layer k's reconstruction is at ``1 / 2**(layers - k)`` of the input size and
    ``forward`` also returns each level's ``targets`` (the pyramid it is compared with)."""

    pad_multiple = STRIDE  # input sides must be multiples of this (codec.pad_multiple)

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        w = config.widths
        self.analyses = nn.ModuleList(analysis(c) for c in w)
        self.syntheses = nn.ModuleList(synthesis(c, c) for c in w)
        self.bottlenecks = nn.ModuleList(EntropyBottleneck(c) for c in w)
        self.predictions = nn.ModuleList(
            SpatialPrediction(w[k - 1], w[k], config.mask_axis) for k in range(1, len(w)))

    def latent_size(self, height: int, width: int) -> tuple[int, int]:
        """Top level's latent size for an image of ``height x width`` (padded to STRIDE)."""
        f = STRIDE // LATENT_STRIDE
        return -(-height // STRIDE) * f, -(-width // STRIDE) * f

    def level_latents(self, latent: tuple[int, int]) -> list[tuple[int, int]]:
        """Each level's latent size, coarsest first, from the top level's."""
        return [(latent[0] >> s, latent[1] >> s) for s in range(self.layers - 1, -1, -1)]

    def _prior(self, k: int, y_hat: list[Tensor], size: tuple[int, ...]) -> Tensor:
        return self.predictions[k - 1](y_hat[-1])[..., : size[-2], : size[-1]]

    def forward(self, x: Tensor) -> dict:
        """Every level's reconstruction, likelihoods, decoded latent and target image.

        Mixed quantisation as in QualityRPN: rate from the noisy residual, syntheses and
        predictions see the rounded residual with a straight-through gradient.
        """
        targets = pyramid(x, self.layers)
        x_hat, likelihoods, y_hat = [], [], []
        for k in range(self.layers):
            y = self.analyses[k](targets[k])
            prior = self._prior(k, y_hat, y.shape) if k else torch.zeros_like(y)
            r_hat, lik = self.bottlenecks[k].mixed(y - prior)
            y_hat.append(prior + r_hat)
            likelihoods.append(lik)
            x_hat.append(self.syntheses[k](y_hat[-1]))
        return {"x_hat": x_hat, "likelihoods": likelihoods, "y_hat": y_hat, "targets": targets}


    @torch.no_grad()
    def compress(self, x: Tensor,
                 reconstruct: bool = True) -> tuple[list[bytes], Tensor | None]:
        """Code ``x`` ``[1, 3, H, W]`` (sides multiples of 64) into one string per level.

        Each prior comes from the *decoded* lower latent, as on the decoder side. With
        ``reconstruct`` the top reconstruction is returned too (contract shared with
        QualityRPN; the codec skips it).
        """
        strings, y_hat = [], []
        for k, target in enumerate(pyramid(x, self.layers)):
            y = self.analyses[k](target)
            eb = self.bottlenecks[k]
            prior = self._prior(k, y_hat, y.shape) if k else None
            residual = y if prior is None else y - prior
            strings.append(eb.compress(residual))
            r_hat = eb.quantize(residual)
            y_hat.append(r_hat if prior is None else prior + r_hat)
        return strings, self.syntheses[-1](y_hat[-1]) if reconstruct else None

    @torch.no_grad()
    def decompress(self, strings: list[bytes], latent: tuple[int, int],
                   layers: int | None = None) -> Tensor:
        """Reconstruct level ``layers`` (default: all given) at its own resolution, from the
        first strings only; ``latent`` is the top level's latent size (:meth:`latent_size`)."""
        layers = layers or len(strings)
        sizes = self.level_latents(latent)
        y_hat: list[Tensor] = []
        for k in range(layers):
            r_hat = self.bottlenecks[k].decompress(strings[k], sizes[k])
            y_hat.append(self._prior(k, y_hat, r_hat.shape) + r_hat if k else r_hat)
        return self.syntheses[layers - 1](y_hat[-1])
