"""Generalized divisive normalization (Ballé et al. 2016) and a gradient-friendly lower bound."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .cache import inference_active, inference_cached

BLOCK_ELEMENTS = 1 << 18  # per block of pixels at inference: 1 MB of fp32 per buffer


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

    def effective_params(self) -> tuple[Tensor, Tensor]:
        """``(beta, gamma)`` after the reparameterisation; gamma as a 1x1 conv weight."""
        beta = lower_bound(self.beta, (self.beta_min + self._pedestal) ** 0.5) ** 2 - self._pedestal
        gamma = lower_bound(self.gamma, self._pedestal**0.5) ** 2 - self._pedestal
        c = gamma.shape[0]
        return beta, gamma.view(c, c, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        if inference_active(self):
            return self._forward_inference(x)
        beta, gamma = self.effective_params()
        norm = F.conv2d(x * x, gamma, beta)
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)

    def _inference_params(self) -> tuple[Tensor, Tensor, Tensor]:
        beta, gamma = self.effective_params()
        return beta, gamma, gamma.flatten(1).t().contiguous()

    def _forward_inference(self, x: Tensor) -> Tensor:
        """Parameters cached, the normaliser computed in place. On a channels-last tensor the
        1x1 conv is a matrix product over pixels (``x^2 @ gamma^T + beta``; as a conv it takes
        a slow generic path with an extra copy), done in blocks of pixels that stay in the
        cores' caches: at full resolution this layer is memory-bound, and blocking halved its
        time (docs/performance.md)."""
        beta, gamma, gamma_t = inference_cached(self, "params", self._inference_params,
                                                self.beta, self.gamma)
        if x.dim() != 4 or not x.is_contiguous(memory_format=torch.channels_last):
            norm = F.conv2d(x * x, gamma, beta)
            return (norm.sqrt_() if self.inverse else norm.rsqrt_()).mul_(x)
        n, c, h, w = x.shape
        pixels = x.permute(0, 2, 3, 1).reshape(n * h * w, c)  # a view
        out = torch.empty_like(pixels)
        block = max(1, BLOCK_ELEMENTS // c)
        squares = pixels.new_empty(min(block, len(pixels)), c)
        for start in range(0, len(pixels), block):
            p, o = pixels[start : start + block], out[start : start + block]
            q = squares[: len(p)]
            torch.mul(p, p, out=q)
            torch.addmm(beta, q, gamma_t, out=o)
            (o.sqrt_() if self.inverse else o.rsqrt_()).mul_(p)
        return out.view(n, h, w, c).permute(0, 3, 1, 2)
