"""The rate-distortion objective every scalable model is trained on and an encoder refines
against (``../shared/design/rpn-reference.md``, section 4).

Convention: ``L_k = lambda_k * bpp_k + 255^2 * MSE_k`` with images in [0, 1]; lambda multiplies
the RATE. CompressAI writes ``lambda_c * 255^2 * MSE + bpp``, so ``lambda_c = 1 / lambda``
(e.g. 240 -> 0.0042). In quality mode bpp_k is cumulative: all bits needed for layer k, and
every layer is compared with the input. In spatial mode each level's rate is its own bits over
its own pixels (not cumulative, as the reference) and each level is compared with its own
resolution's target (the model's ``out["targets"]``). In general layer k's rate is the bits of
the levels its synthesis reads (the model's ``out["rate_levels"]``,
:meth:`~rpncodec.models.config.ModelConfig.synthesis_levels`) over its own pixels: cumulative
in quality mode, its own level's in spatial mode, and from the full-size spatial level up in
spatial-quality mode.
"""

from __future__ import annotations

import torch
from torch import Tensor


def bits(likelihoods: Tensor) -> Tensor:
    """Information content in bits of all symbols in a likelihood tensor."""
    return -torch.log2(likelihoods).sum()


def layer_bpp(likelihoods: list[Tensor], pixels: list[int],
              rate_levels: list[range]) -> list[Tensor]:
    """Per-layer bits per pixel: the bits of levels ``rate_levels[k]`` over ``pixels[k]``."""
    level_bits = [bits(lik) for lik in likelihoods]
    return [sum(level_bits[j] for j in levels) / n
            for levels, n in zip(rate_levels, pixels, strict=True)]


def rate_distortion(out: dict, x: Tensor, lambdas: tuple[float, ...]) -> dict:
    """Sum over layers of ``lambda_k * bpp_k + 255^2 * MSE_k``, plus the per-layer terms."""
    return guided_rate_distortion(out, x, lambdas, [None] * len(out["x_hat"]))


def guided_rate_distortion(out: dict, x: Tensor, lambdas: tuple[float, ...],
                           weights: list[Tensor | None]) -> dict:
    """Like :func:`rate_distortion`, with layer k's squared error weighted by ``weights[k]``
    (``None`` = unweighted, e.g. the top layer, which has no uncertainty map). Layer k is
    compared with ``out["targets"][k]`` (the input itself in quality mode)."""
    targets = out["targets"]
    bpp = layer_bpp(out["likelihoods"], [t[:, 0].numel() for t in targets], out["rate_levels"])
    mse = []
    for x_hat, t, wk in zip(out["x_hat"], targets, weights, strict=True):
        err = (x_hat - t) ** 2
        mse.append(torch.mean(err if wk is None else wk * err))
    loss = sum(lam * r + 255.0**2 * d for lam, r, d in zip(lambdas, bpp, mse, strict=True))
    return {"loss": loss, "bpp": bpp, "mse": mse}
