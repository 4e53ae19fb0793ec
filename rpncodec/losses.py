"""Rate-distortion losses (rpn-reference.md section 4).

Convention: ``L_k = lambda_k * bpp_k + 255^2 * MSE_k`` with images in [0, 1]; lambda multiplies
the RATE. CompressAI writes ``lambda_c * 255^2 * MSE + bpp``, so ``lambda_c = 1 / lambda``
(e.g. 240 -> 0.0042). In quality mode bpp_k is cumulative: all bits needed for layer k.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Reference defaults (quality mode, rate multipliers): CompressAI 0.0042, 0.0083, 0.022, 0.05.
QUALITY_LAMBDAS = (240.0, 120.0, 45.0, 20.0)


def bits(likelihoods: Tensor) -> Tensor:
    """Information content in bits of all symbols in a likelihood tensor."""
    return -torch.log2(likelihoods).sum()


def layer_bpp(likelihoods: list[Tensor], pixels: int, cumulative: bool) -> list[Tensor]:
    """Per-layer bits per pixel, optionally cumulative over layers."""
    per = [bits(lik) / pixels for lik in likelihoods]
    if cumulative:
        per = list(torch.cumsum(torch.stack(per), 0).unbind(0))
    return per


def rate_distortion(out: dict, x: Tensor, lambdas: tuple[float, ...],
                    cumulative: bool = True) -> dict:
    """Sum over layers of ``lambda_k * bpp_k + 255^2 * MSE_k``, plus the per-layer terms."""
    n, _, h, w = x.shape
    bpp = layer_bpp(out["likelihoods"], n * h * w, cumulative)
    mse = [torch.mean((x_hat - x) ** 2) for x_hat in out["x_hat"]]
    loss = sum(lam * r + 255.0**2 * d for lam, r, d in zip(lambdas, bpp, mse, strict=True))
    return {"loss": loss, "bpp": bpp, "mse": mse}


def psnr(mse: float) -> float:
    """PSNR in dB of an MSE measured on [0, 1] images."""
    return float(-10 * torch.log10(torch.tensor(max(mse, 1e-12))))
