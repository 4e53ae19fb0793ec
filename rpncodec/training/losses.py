"""Training losses beyond the rate-distortion objective (:mod:`rpncodec.models.objective`):
the uncertainty nets' loss and the guided stages' pixel weights
(``../shared/design/rpn-reference.md``, section 4), and PSNR for the logs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..metrics import psnr_from_mse


def psnr(mse: float) -> float:
    """PSNR in dB of an MSE measured on [0, 1] images (floored at 1e-12, so 120 dB, never inf:
    validation writes it to JSON)."""
    return psnr_from_mse(max(mse, 1e-12))


def uncertainty_nll(s: Tensor, x: Tensor, x_hat: Tensor) -> Tensor:
    """Heteroscedastic negative log-likelihood that teaches an uncertainty net its map ``s``.

    Per pixel ``exp(-s) * d + s`` with ``d = 255^2 (x - x_hat)^2``: minimised at
    ``s = log d``, so ``s`` estimates the log of the expected squared error (aleatoric
    uncertainty) of that reconstruction. ``x_hat`` is detached: this loss trains the uncertainty
    net only. (The reference weights with exp(-4s) and a k * 2s regulariser on the [0, 1] scale,
    which pins most of s at its ELU floor of -1; see ``../shared/design/rpn-reference.md`` 4.3.)
    """
    d = 255.0**2 * (x - x_hat.detach()) ** 2
    return torch.mean(torch.exp(-s) * d + s)


def guidance_weights(s: Tensor) -> Tensor:
    """Stage-2 pixel weights from an uncertainty map: ``s - min(s) + 1`` per image and channel
    (as the reference), detached and scaled to mean 1 so the rate-distortion balance, and hence
    the layer's rate, stays where its lambda puts it."""
    s = s.detach()
    w = s - s.amin(dim=(2, 3), keepdim=True) + 1
    return w / w.mean(dim=(1, 2, 3), keepdim=True)
