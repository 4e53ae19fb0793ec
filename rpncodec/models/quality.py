"""QualityRPN: four (or any number of) levels at full resolution (rpn-reference.md section 3).

Level 1 codes its latent directly. Level k > 1 codes ``y_k - P_k(yhat_{k-1})``, where P_k is
the cross-resolution context mining module, and synthesis k reads the concatenation of the
decoded latents of levels 1..k. With one level this is the single-layer baseline.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..entropy import EntropyBottleneck
from ..layers.crcm import QualityPrediction
from .config import ModelConfig
from .transforms import analysis, synthesis

STRIDE = 16  # input sides are padded to a multiple of this


class QualityRPN(nn.Module):
    """Quality-scalable RPN; CompressAI-style contract (forward / compress / decompress)."""

    stride = STRIDE

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        w = config.widths
        self.analyses = nn.ModuleList(analysis(c) for c in w)
        self.syntheses = nn.ModuleList(synthesis(sum(w[: k + 1]), w[k]) for k in range(len(w)))
        self.bottlenecks = nn.ModuleList(EntropyBottleneck(c) for c in w)
        self.predictions = nn.ModuleList(
            QualityPrediction(w[k - 1], w[k], config.mask_axis) for k in range(1, len(w)))

    @property
    def layers(self) -> int:
        return self.config.layers

    def latent_size(self, height: int, width: int) -> tuple[int, int]:
        return -(-height // STRIDE), -(-width // STRIDE)

    def forward(self, x: Tensor) -> dict:
        """Every layer's reconstruction and likelihoods.

        Training uses *mixed* quantisation (Minnen & Singh 2020): the rate comes from the
        noisy residual, while syntheses and predictions see the rounded residual with a
        straight-through gradient, as they will at inference. With noise everywhere (the
        reference), the upper levels' residuals collapsed to zero rate early in training and
        never recovered: small residuals drown in the noise, so no gradient asks for them.
        """
        x_hat, likelihoods, y_hat = [], [], []
        for k in range(self.layers):
            y = self.analyses[k](x)
            prior = self.predictions[k - 1](y_hat[-1]) if k else torch.zeros_like(y)
            residual = y - prior
            eb = self.bottlenecks[k]
            _, lik = eb(residual)
            if eb.training:
                r_hat = residual + (eb.quantize(residual) - residual).detach()
            else:
                r_hat = eb.quantize(residual)
            y_hat.append(prior + r_hat)
            likelihoods.append(lik)
            x_hat.append(self.syntheses[k](torch.cat(y_hat, 1)))
        return {"x_hat": x_hat, "likelihoods": likelihoods, "y_hat": y_hat}

    def aux_loss(self) -> Tensor:
        return sum(eb.aux_loss() for eb in self.bottlenecks)

    def update(self) -> None:
        for eb in self.bottlenecks:
            eb.update()

    @torch.no_grad()
    def compress(self, x: Tensor) -> tuple[list[bytes], Tensor]:
        """Code ``x`` ``[1, 3, H, W]`` (sides multiples of 16) into one byte string per layer.

        Each prediction is computed from the *decoded* lower latent, with the same operations
        the decoder runs, so both sides see the same prior. Also returns the top reconstruction.
        """
        strings, y_hat = [], []
        for k in range(self.layers):
            y = self.analyses[k](x)
            prior = self.predictions[k - 1](y_hat[-1]) if k else None
            eb = self.bottlenecks[k]
            residual = y if prior is None else y - prior
            strings.append(eb.compress(residual))
            r_hat = eb.quantize(residual)
            y_hat.append(r_hat if prior is None else prior + r_hat)
        return strings, self.syntheses[-1](torch.cat(y_hat, 1))

    @torch.no_grad()
    def decompress(self, strings: list[bytes], latent: tuple[int, int],
                   layers: int | None = None) -> Tensor:
        """Reconstruct layer ``layers`` (default: all given) from the first strings only."""
        layers = layers or len(strings)
        y_hat: list[Tensor] = []
        for k in range(layers):
            r_hat = self.bottlenecks[k].decompress(strings[k], latent)
            y_hat.append(self.predictions[k - 1](y_hat[-1]) + r_hat if k else r_hat)
        return self.syntheses[layers - 1](torch.cat(y_hat, 1))
