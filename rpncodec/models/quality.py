"""QualityRPN: four (or any number of) levels at full resolution (rpn-reference.md section 3).

Level 1 codes its latent directly. Level k > 1 codes ``y_k - P_k(yhat_{k-1})``, where P_k is
the cross-resolution context mining module, and synthesis k reads the concatenation of the
decoded latents of levels 1..k. With one level this is the single-layer baseline.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..entropy.factorized import EntropyBottleneck
from ..layers.crcm import QualityPrediction
from .base import LayeredModel
from .config import ModelConfig
from .transforms import analysis, synthesis

STRIDE = 16  # input sides are padded to a multiple of this
INFERENCE_MEMORY_FORMAT = torch.channels_last  # see to_inference_format


class QualityRPN(LayeredModel):
    """Quality-scalable RPN; CompressAI-style contract (forward / compress / decompress)."""

    pad_multiple = STRIDE  # input sides must be multiples of this (codec.pad_multiple)

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        w = config.widths
        self.analyses = nn.ModuleList(analysis(c) for c in w)
        self.syntheses = nn.ModuleList(synthesis(sum(w[: k + 1]), w[k]) for k in range(len(w)))
        self.bottlenecks = nn.ModuleList(EntropyBottleneck(c) for c in w)
        self.predictions = nn.ModuleList(
            QualityPrediction(w[k - 1], w[k], config.mask_axis) for k in range(1, len(w)))

    def latent_size(self, height: int, width: int) -> tuple[int, int]:
        return -(-height // STRIDE), -(-width // STRIDE)

    def forward(self, x: Tensor, levels: int | None = None) -> dict:
        """Every layer's reconstruction and likelihoods (of the first ``levels`` only, when
        given: level-by-level training runs nothing above the level it trains).

        Training uses *mixed* quantisation (Minnen & Singh 2020): the rate comes from the
        noisy residual, while syntheses and predictions see the rounded residual with a
        straight-through gradient, as they will at inference. With noise everywhere (the
        reference), the upper levels' residuals collapsed to zero rate early in training and
        never recovered: small residuals drown in the noise, so no gradient asks for them.
        """
        x_hat, likelihoods, y_hat = [], [], []
        for k in range(levels or self.layers):
            y = self.analyses[k](x)
            prior = self.predictions[k - 1](y_hat[-1]) if k else torch.zeros_like(y)
            r_hat, lik = self.bottlenecks[k].mixed(y - prior)
            y_hat.append(prior + r_hat)
            likelihoods.append(lik)
            x_hat.append(self.syntheses[k](torch.cat(y_hat, 1)))
        return {"x_hat": x_hat, "likelihoods": likelihoods, "y_hat": y_hat}


    @torch.inference_mode()
    def compress(self, x: Tensor, layers: int | None = None,
                 reconstruct: bool = True) -> tuple[list[bytes], Tensor | None]:
        """Code ``x`` ``[1, 3, H, W]`` (sides multiples of 16) into one byte string per layer.

        Each analysis runs once. Each prediction is computed from the *decoded* lower latent,
        with the same operations the decoder runs, so both sides see the same prior.
        ``layers`` codes only the first layers (default: all). With ``reconstruct`` the top
        coded layer's reconstruction is returned too (what the decoder will produce); the codec
        passes ``reconstruct=False``, since an encoder has no use for it and the synthesis costs
        as much as one analysis.
        """
        layers = layers or self.layers
        x = to_inference_format(x)
        strings, y_hat = [], []
        for k in range(layers):
            y = self.analyses[k](x)
            prior = self.predictions[k - 1](y_hat[-1]) if k else None
            eb = self.bottlenecks[k]
            residual = y if prior is None else y - prior
            strings.append(eb.compress(residual))
            r_hat = eb.quantize(residual)
            y_hat.append(r_hat if prior is None else prior + r_hat)
        if not reconstruct:
            return strings, None
        return strings, self.syntheses[layers - 1](torch.cat(y_hat, 1))

    @torch.inference_mode()
    def decompress(self, strings: list[bytes], latent: tuple[int, int],
                   layers: int | None = None) -> Tensor:
        """Reconstruct layer ``layers`` (default: all given) from the first strings only: the
        entropy decoding and predictions of levels 1..layers and one synthesis, no analysis."""
        layers = layers or len(strings)
        y_hat: list[Tensor] = []
        for k in range(layers):
            r_hat = to_inference_format(self.bottlenecks[k].decompress(strings[k], latent))
            y_hat.append(self.predictions[k - 1](y_hat[-1]) + r_hat if k else r_hat)
        return self.syntheses[layers - 1](torch.cat(y_hat, 1))


def to_inference_format(x: Tensor) -> Tensor:
    """``x`` in the memory format inference runs in (channels-last: measured faster for the
    transposed convolutions and GDNs of the syntheses on CPU, see README "Speed").

    Encoder and decoder both call this on every tensor entering the network, so the
    predictions are computed by the same kernels on both sides.
    """
    return x.contiguous(memory_format=INFERENCE_MEMORY_FORMAT)

