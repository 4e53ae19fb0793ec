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
from ..entropy.quantization import mixed_quantize, round_half_up
from ..layers.cache import in_dtype
from .base import Context, LatentCodec


def output_conv(cin: int, channels: int, means: bool = False) -> nn.Conv2d:
    """conv3x3 to a log-scale per latent element, and with ``means`` also a mean shift per
    element (whose outputs start at exactly zero)."""
    conv = nn.Conv2d(cin, channels * (1 + means), 3, padding=1)
    if means:
        with torch.no_grad():
            conv.weight[channels:].zero_()
            conv.bias[channels:].zero_()
    return conv


def scale_head(cin: int, channels: int, means: bool = False) -> nn.Sequential:
    """3 x conv3x3 (ReLU between): context -> :func:`output_conv`'s outputs."""
    return nn.Sequential(nn.Conv2d(cin, channels, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                         output_conv(channels, channels, means))


def split_head(out: Tensor, offset: Tensor, means: bool) -> tuple[Tensor, Tensor]:
    """(shift, scale) from a head's output: the shift is the per-channel ``offset`` plus, with
    ``means``, the head's per-element mean shift."""
    c = offset.numel()
    shift = offset.view(1, -1, 1, 1)
    return (shift + out[:, c:] if means else shift), torch.exp(out[:, :c])


class ConditionalResidual(LatentCodec):
    """``y ~ N(prior + offset, exp(head([up(lower), prior])))`` for level k > 1.

    ``use_prior=False`` is the ablation "no prediction": the mean ignores the field (the
    head still sees the lower latent). ``means=True`` lets the head correct the mean per
    element too (the decoded latent then moves off the paper's grid).
    """

    networks = ("head",)

    def __init__(self, channels: int, lower_channels: int | None = None,
                 use_prior: bool = True, means: bool = False) -> None:
        super().__init__()
        self.use_prior, self.means = use_prior, means
        self.offset = nn.Parameter(torch.zeros(channels))
        self.head = scale_head((lower_channels or channels) + channels, channels, means)
        self.gaussian = GaussianConditional()

    def _shift_scale(self, context: Context, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
        prior, lower = context.prior, context.lower
        if prior is None or lower is None:
            raise ValueError("a conditional latent codec needs the level below (level k > 1)")
        if lower.shape[-2:] != tuple(size):  # spatial mode: the lower level is half the size
            lower = F.interpolate(lower, scale_factor=2, mode="nearest")[..., : size[0], : size[1]]
        out = in_dtype(self.head, prior.dtype)(torch.cat([lower, prior], 1))
        return split_head(out, self.offset.to(out.dtype), self.means)

    # The mean is prior + offset, applied in the factorized coder's order of operations
    # (residual, then offset), so that converted models decode bit-identical latents.
    def _residual(self, y: Tensor, context: Context) -> Tensor:
        return y - context.prior if self.use_prior else y

    def _latent(self, r_hat: Tensor, context: Context) -> Tensor:
        return context.prior + r_hat if self.use_prior else r_hat

    def forward(self, y: Tensor, context: Context) -> tuple[Tensor, Tensor]:
        offset, scale = self._shift_scale(context, y.shape[-2:])
        r_hat, r_rate = mixed_quantize(self._residual(y, context) - offset, self.training)
        return self._latent(r_hat + offset, context), likelihood(r_rate, scale)

    def compress(self, y: Tensor, context: Context) -> tuple[bytes, Tensor]:
        offset, scale = self._shift_scale(context, y.shape[-2:])
        symbols = round_half_up(self._residual(y, context) - offset)
        return self.gaussian.compress(symbols, scale), self._latent(symbols + offset, context)

    def decompress(self, data: bytes, size: tuple[int, int], context: Context) -> Tensor:
        offset, scale = self._shift_scale(context, size)
        symbols = self.gaussian.decompress(data, scale).to(scale)
        return self._latent(symbols + offset, context)

    def update(self) -> None:
        self.gaussian.update()

    def aux_loss(self) -> Tensor:
        return self.offset.new_zeros(())

    def aux_parameters(self) -> list[nn.Parameter]:
        return []
