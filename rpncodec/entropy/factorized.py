"""Factorized (per-channel, non-parametric) entropy bottleneck and its real entropy coder.

The density model is Ballé et al. 2018 (appendix 6.1): for each channel a small monotone MLP
gives a cumulative function; the likelihood of a quantized value is the CDF mass of its unit
bin. Training adds uniform noise, inference rounds around the per-channel median.

Coding: :meth:`EntropyBottleneck.update` turns each channel's density into a table of integer
frequencies (16-bit, summing to 2**16) over ``[median - a, median + b]`` plus one *escape*
entry. The tables are buffers, saved with the weights, so encoder and decoder never recompute
them from floats. Symbols are ANS-coded a channel at a time (:mod:`.ans`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..layers.gdn import lower_bound
from .ans import quantize_pmf
from .coding import decode_by_channel, encode_by_channel
from .quantization import annealed_round, soft_temperature
from .tables import CodingTables

MAX_SPAN = 2047  # table entries each side of the median at most; beyond, the escape codes


class EntropyBottleneck(CodingTables):
    """Per-channel learned density for a latent ``y`` of shape ``[N, C, H, W]``."""

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3),
                 init_scale: float = 10.0, tail_mass: float = 1e-9,
                 likelihood_bound: float = 1e-9) -> None:
        super().__init__()
        self.channels = channels
        self.tail_mass = tail_mass
        self.likelihood_bound = likelihood_bound
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        quantiles = torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1)
        self.quantiles = nn.Parameter(quantiles)

    # -- density -----------------------------------------------------------------------------
    def _logits_cdf(self, x: Tensor, stop_gradient: bool) -> Tensor:
        """Cumulative logits for ``x`` of shape ``[C, 1, K]``."""
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases, strict=True)):
            if stop_gradient:
                matrix, bias = matrix.detach(), bias.detach()
            x = torch.matmul(F.softplus(matrix), x) + bias
            if i < len(self.factors):
                factor = self.factors[i].detach() if stop_gradient else self.factors[i]
                x = x + torch.tanh(factor) * torch.tanh(x)
        return x

    def _likelihood(self, values: Tensor, stop_gradient: bool = False) -> Tensor:
        """Mass of the unit bin around each value; ``values`` is ``[C, 1, K]``."""
        lower = self._logits_cdf(values - 0.5, stop_gradient)
        upper = self._logits_cdf(values + 0.5, stop_gradient)
        sign = -torch.sign(lower + upper).detach()
        return torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))

    @property
    def medians(self) -> Tensor:
        return self.quantiles[:, 0, 1].detach()

    def aux_loss(self) -> Tensor:
        """Pulls ``quantiles`` to the tail_mass/2 quantiles and the median of each density."""
        target = math.log(2 / self.tail_mass - 1)
        logits = self._logits_cdf(self.quantiles, True)
        goal = torch.tensor([-target, 0.0, target], device=logits.device).view(1, 1, 3)
        return torch.abs(logits - goal).sum()

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(y_hat, likelihoods)``: noisy in training (``self.training``; annealed
        rounding under :func:`~.quantization.soft_rounding`), median-rounded otherwise."""
        temperature = soft_temperature() if self.training else None
        if temperature is not None:
            m = self.medians.view(1, -1, 1, 1)
            y_hat = annealed_round(y - m, temperature) + m
        elif self.training:
            y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        else:
            y_hat = self.quantize(y)
        n, c, h, w = y_hat.shape
        flat = y_hat.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lik = self._likelihood(flat)
        lik = lower_bound(lik, self.likelihood_bound)
        return y_hat, lik.reshape(c, n, h, w).permute(1, 0, 2, 3)

    def mixed(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """Mixed quantisation (Minnen & Singh 2020): ``(y_hat, likelihoods)`` where the
        likelihoods are those of the noisy ``y`` in training, and ``y_hat`` is always the
        rounded ``y`` (with a straight-through gradient in training), as inference sees it.
        Under :func:`~.quantization.soft_rounding` both are one annealed rounding."""
        y_hat, lik = self(y)
        if self.training and soft_temperature() is not None:
            return y_hat, lik
        if self.training:
            return y + (self.quantize(y) - y).detach(), lik
        return self.quantize(y), lik

    def quantize(self, y: Tensor) -> Tensor:
        """Round around the medians: ``floor(y - m + 0.5) + m``."""
        m = self.medians.view(1, -1, 1, 1)
        return torch.floor(y - m + 0.5) + m

    def symbols(self, y: Tensor) -> Tensor:
        """Integer symbols ``floor(y - m + 0.5)`` coded for ``y``."""
        m = self.medians.view(1, -1, 1, 1)
        return torch.floor(y - m + 0.5).to(torch.int64)

    def dequantize(self, symbols: Tensor) -> Tensor:
        return symbols.to(self.quantiles.dtype) + self.medians.view(1, -1, 1, 1)

    # -- tables --------------------------------------------------------------------------------
    @torch.no_grad()
    def update(self) -> None:
        """Rebuild the integer frequency tables from the current density (call after training)."""
        m = self.medians
        lo = torch.clamp(torch.floor(m - self.quantiles[:, 0, 0]), 0, MAX_SPAN).to(torch.int64)
        hi = torch.clamp(torch.ceil(self.quantiles[:, 0, 2] - m), 0, MAX_SPAN).to(torch.int64)
        length = int((lo + hi + 1).max())
        grid = torch.arange(length, device=m.device, dtype=m.dtype).view(1, 1, -1)
        values = grid - lo.view(-1, 1, 1).to(m.dtype) + m.view(-1, 1, 1)
        pmf = self._likelihood(values, stop_gradient=True).squeeze(1).double().cpu()
        valid = grid.view(1, -1).cpu() <= (lo + hi).view(-1, 1).cpu()
        pmf = torch.where(valid, pmf, torch.zeros_like(pmf))
        tail = torch.clamp(1 - pmf.sum(1, keepdim=True), min=0)
        table = torch.cat([pmf, tail], 1)
        used = (lo + hi + 1).tolist()
        freqs = torch.zeros(self.channels, length + 1, dtype=torch.int32)
        for c in range(self.channels):  # the escape entry right after the used ones
            probs = torch.cat([table[c, : used[c]], table[c, -1:]]).numpy()
            freqs[c, : used[c] + 1] = torch.from_numpy(quantize_pmf(probs).astype(np.int32))
        self.set_tables(lo.to(torch.int32).cpu(), freqs)


    # -- coding --------------------------------------------------------------------------------
    def compress(self, y: Tensor) -> bytes:
        """Code the median-rounded ``y`` (batch of one) into bytes, a group per channel."""
        return encode_by_channel(self.symbols(y)[0].cpu().numpy(), self.coding_models(),
                                 self.offsets.cpu().numpy())

    def decompress(self, data: bytes, size: tuple[int, int]) -> Tensor:
        """Inverse of :meth:`compress`; returns ``y_hat`` of shape ``[1, C, H, W]`` on the
        model's device (coding itself always runs on the CPU)."""
        sym = decode_by_channel(data, self.channels, size, self.coding_models(),
                                self.offsets.cpu().numpy())
        return self.dequantize(torch.from_numpy(sym).unsqueeze(0).to(self.quantiles.device))
