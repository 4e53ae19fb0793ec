"""Generalized divisive normalization (Ballé et al. 2016) and a gradient-friendly lower bound."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class _LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still flows when it pushes x back above the bound."""

    @staticmethod
    def forward(ctx, x: Tensor, bound: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, bound)
        return torch.max(x, bound)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        x, bound = ctx.saved_tensors
        passes = (x >= bound) | (grad < 0)
        return grad * passes.to(grad.dtype), None


def lower_bound(x: Tensor, bound: float) -> Tensor:
    """Clamp ``x`` from below without killing the gradient that would lift it."""
    return _LowerBound.apply(x, torch.tensor(bound, dtype=x.dtype, device=x.device))


class GDN(nn.Module):
    """``y = x / sqrt(beta + gamma @ x^2)`` across channels; ``inverse=True`` multiplies (IGDN).

    beta and gamma are kept non-negative by the usual square reparameterisation with a small
    pedestal (tensorflow-compression's defaults: beta_min 1e-6, offset 2^-18).
    """

    _pedestal = 2.0**-36  # offset^2

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6,
                 gamma_init: float = 0.1) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta_min = beta_min
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + self._pedestal))
        gamma = gamma_init * torch.eye(channels) + self._pedestal
        self.gamma = nn.Parameter(torch.sqrt(gamma))

    def forward(self, x: Tensor) -> Tensor:
        beta = lower_bound(self.beta, (self.beta_min + self._pedestal) ** 0.5) ** 2 - self._pedestal
        gamma = lower_bound(self.gamma, self._pedestal**0.5) ** 2 - self._pedestal
        c = x.shape[1]
        norm = F.conv2d(x * x, gamma.view(c, c, 1, 1), beta)
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)
