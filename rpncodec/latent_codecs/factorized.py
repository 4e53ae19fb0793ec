"""The paper's latent codec: the residual ``y - prior`` under a factorized density.

Level 1 codes its latent directly; level k > 1 subtracts the resolution field and codes what
it missed, with one learned non-parametric density per channel
(:class:`~rpncodec.entropy.factorized.EntropyBottleneck`) that ignores where in the image the
residual is. Its bytes are exactly those of the bottleneck, so files of the shipped models are
unchanged by the move to this contract.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..entropy.factorized import EntropyBottleneck
from .base import CODING_DTYPE, Context, LatentCodec


class FactorizedResidual(LatentCodec):
    """``y - prior`` coded with a per-channel factorized density (the prior is 0 at level 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bottleneck = EntropyBottleneck(channels)

    def forward(self, y: Tensor, context: Context) -> tuple[Tensor, Tensor]:
        """Mixed quantisation (Minnen & Singh 2020): the rate comes from the noisy residual,
        while ``y_hat`` holds the rounded residual (straight-through in training), as
        inference sees it. With noise everywhere, the upper levels' residuals collapsed to
        zero rate early in training: small residuals drown in the noise (docs/training.md)."""
        if context.prior is None:
            return self.bottleneck.mixed(y)
        r_hat, likelihoods = self.bottleneck.mixed(y - context.prior)
        return context.prior + r_hat, likelihoods

    def compress(self, y: Tensor, context: Context) -> tuple[bytes, Tensor]:
        residual = y if context.prior is None else y - context.prior
        r_hat = self.bottleneck.quantize(residual)
        data = self.bottleneck.compress(residual)
        return data, r_hat if context.prior is None else context.prior + r_hat

    def decompress(self, data: bytes, size: tuple[int, int], context: Context) -> Tensor:
        r_hat = self.bottleneck.decompress(data, size).to(CODING_DTYPE)
        return r_hat if context.prior is None else context.prior + r_hat

    def update(self) -> None:
        self.bottleneck.update()

    def aux_loss(self) -> Tensor:
        return self.bottleneck.aux_loss()

    def aux_parameters(self) -> list[nn.Parameter]:
        return [self.bottleneck.quantiles]

