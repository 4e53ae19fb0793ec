"""Enhancement levels beyond the paper: the latent under a Gaussian whose mean is the
resolution field and whose scale is predicted from what the decoder holds.

The paper subtracts the resolution field ``P_k(ŷ_{k-1})`` and codes the residual with one
fixed density per channel, blind to where in the image the prediction is good. Here a small
head reads the lower decoded latent and the field and predicts, per element, how uncertain
the field is: the scale of ``N(P_k + offset, sigma)``. That is the paper's *uncertainty*, used
where it pays, in the entropy model at inference, and it costs no side information. With the
offset equal to the factorized model's medians, the quantised latent is exactly the paper's:
only the bits change.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..entropy.gaussian import GaussianConditional, likelihood
from .base import Context, LatentCodec


def scale_head(cin: int, channels: int) -> nn.Sequential:
    """3 x conv3x3 (ReLU between): context -> log-scale per latent element."""
    return nn.Sequential(nn.Conv2d(cin, channels, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(channels, channels, 3, padding=1))


def round_half_up(x: Tensor) -> Tensor:
    """``floor(x + 1/2)``: the factorized coder's rounding, so both give the same latents."""
    return torch.floor(x + 0.5)


class ConditionalResidual(LatentCodec):
    """``y ~ N(prior + offset, exp(head([up(lower), prior])))`` for level k > 1.

    ``use_prior=False`` is the ablation "no prediction": the mean ignores the field (the
    head still sees the lower latent).
    """

    def __init__(self, channels: int, lower_channels: int | None = None,
                 use_prior: bool = True) -> None:
        super().__init__()
        self.use_prior = use_prior
        self.offset = nn.Parameter(torch.zeros(channels))
        self.head = scale_head((lower_channels or channels) + channels, channels)
        self.gaussian = GaussianConditional()

    def _scale(self, context: Context, size: tuple[int, int]) -> Tensor:
        prior, lower = context.prior, context.lower
        if prior is None or lower is None:
            raise ValueError("a conditional latent codec needs the level below (level k > 1)")
        if lower.shape[-2:] != tuple(size):  # spatial mode: the lower level is half the size
            lower = F.interpolate(lower, scale_factor=2, mode="nearest")[..., : size[0], : size[1]]
        return torch.exp(self.head(torch.cat([lower, prior], 1)))

    # The mean is prior + offset, applied in the factorized coder's order of operations
    # (residual, then offset), so that converted models decode bit-identical latents.
    def _residual(self, y: Tensor, context: Context) -> Tensor:
        return y - context.prior if self.use_prior else y

    def _latent(self, r_hat: Tensor, context: Context) -> Tensor:
        return context.prior + r_hat if self.use_prior else r_hat

    def forward(self, y: Tensor, context: Context) -> tuple[Tensor, Tensor]:
        scale = self._scale(context, y.shape[-2:])
        offset = self.offset.view(1, -1, 1, 1)
        r = self._residual(y, context) - offset
        noisy = r + torch.empty_like(r).uniform_(-0.5, 0.5) if self.training else \
            round_half_up(r)
        r_hat = r + (round_half_up(r) - r).detach()  # straight-through (mixed quantisation)
        return self._latent(r_hat + offset, context), likelihood(noisy, scale)

    def compress(self, y: Tensor, context: Context) -> tuple[bytes, Tensor]:
        scale = self._scale(context, y.shape[-2:])
        offset = self.offset.view(1, -1, 1, 1)
        symbols = round_half_up(self._residual(y, context) - offset)
        return self.gaussian.compress(symbols, scale), self._latent(symbols + offset, context)

    def decompress(self, data: bytes, size: tuple[int, int], context: Context) -> Tensor:
        scale = self._scale(context, size)
        symbols = self.gaussian.decompress(data, scale).to(scale)
        return self._latent(symbols + self.offset.view(1, -1, 1, 1), context)

    def update(self) -> None:
        self.gaussian.update()

    def aux_loss(self) -> Tensor:
        return self.offset.new_zeros(())

    def aux_parameters(self) -> list[nn.Parameter]:
        return []
