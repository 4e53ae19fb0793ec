"""Level 1 beyond the paper: a scale hyperprior (Ballé et al. 2018).

Level 1 has no lower level to condition on, so it sends its own side information: a small
analysis ``h_a`` summarises the latent into ``z`` at a quarter of its size, coded with a
factorized density; a synthesis ``h_s`` turns the decoded ``ẑ`` into a scale per latent
element, and the latent is coded under ``N(offset, scale)``. The payload is ``len(z bytes)``
(u32) | z bytes | latent bytes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..entropy.coding import join_parts, split_parts
from ..entropy.factorized import EntropyBottleneck
from ..entropy.gaussian import GaussianConditional, likelihood
from ..entropy.quantization import mixed_quantize, round_half_up
from ..layers.cache import in_dtype
from ..layers.crcm import up2
from .base import CODING_DTYPE, Context, LatentCodec
from .conditional import output_conv, split_head


def hyper_size(size: tuple[int, int]) -> tuple[int, int]:
    """Size of ``z`` for a latent of ``size`` (two stride-2 convolutions)."""
    return tuple((s + 3) // 4 for s in size)  # ceil(ceil(s / 2) / 2)


class HyperpriorLatent(LatentCodec):
    """A latent (level 1) coded under scales predicted from a side latent ``z``."""

    networks = ("h_a", "h_s")

    def __init__(self, channels: int, hyper: int | None = None, means: bool = False) -> None:
        super().__init__()
        n = hyper or channels
        self.means = means
        self.offset = nn.Parameter(torch.zeros(channels))
        self.h_a = nn.Sequential(nn.Conv2d(channels, n, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(n, n, 5, stride=2, padding=2), nn.ReLU(),
                                 nn.Conv2d(n, n, 5, stride=2, padding=2))
        self.h_s = nn.Sequential(up2(n, n, 5), nn.ReLU(), up2(n, n, 5), nn.ReLU(),
                                 output_conv(n, channels, means))
        self.z_bottleneck = EntropyBottleneck(n)
        self.gaussian = GaussianConditional()

    def _shift_scale(self, z_hat: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
        out = in_dtype(self.h_s, z_hat.dtype)(z_hat)[..., : size[0], : size[1]]
        return split_head(out, self.offset.to(out.dtype), self.means)

    def forward(self, y: Tensor, context: Context) -> tuple[Tensor, Tensor]:
        z_hat, z_lik = self.z_bottleneck.mixed(self.h_a(torch.abs(y)))
        offset, scale = self._shift_scale(z_hat, y.shape[-2:])
        r_hat, r_rate = mixed_quantize(y - offset, self.training)
        y_lik = likelihood(r_rate, scale)
        n = y.shape[0]
        return r_hat + offset, torch.cat([y_lik.reshape(n, -1), z_lik.reshape(n, -1)], 1)

    def compress(self, y: Tensor, context: Context) -> tuple[bytes, Tensor]:
        z = in_dtype(self.h_a, y.dtype)(torch.abs(y))
        z_data = self.z_bottleneck.compress(z)
        offset, scale = self._shift_scale(self.z_bottleneck.quantize(z), y.shape[-2:])
        symbols = round_half_up(y - offset)
        data = join_parts(z_data, self.gaussian.compress(symbols, scale))
        return data, symbols + offset

    def decompress(self, data: bytes, size: tuple[int, int], context: Context) -> Tensor:
        z_data, data = split_parts(data, "side information")
        z_hat = self.z_bottleneck.decompress(z_data, hyper_size(size))
        z_hat = z_hat.to(CODING_DTYPE)
        offset, scale = self._shift_scale(z_hat, size)
        return self.gaussian.decompress(data, scale).to(scale) + offset

    def update(self) -> None:
        self.z_bottleneck.update()
        self.gaussian.update()

    def aux_loss(self) -> Tensor:
        return self.z_bottleneck.aux_loss()

    def aux_parameters(self) -> list[nn.Parameter]:
        return [self.z_bottleneck.quantiles]
