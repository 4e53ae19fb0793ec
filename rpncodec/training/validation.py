"""Validation of a run on fixed held-out crops: estimated rate and PSNR per layer, and how the
uncertainty maps are distributed and track the actual error."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..models import LayeredModel
from ..models.objective import guided_rate_distortion
from .losses import psnr


@torch.no_grad()
def validate(model: LayeredModel, uncertainty: nn.Module, crops: Tensor,
             lambdas: tuple[float, ...]) -> dict:
    """Rounded latents on ``crops``: per-layer bpp (from the likelihoods) and PSNR."""
    model.eval()
    out = model(crops)
    rd = guided_rate_distortion(out, crops, lambdas, [None] * model.layers)
    record = {"bpp": [round(float(b), 4) for b in rd["bpp"]],
              "psnr": [round(psnr(float(m)), 3) for m in rd["mse"]]}
    if len(uncertainty):
        maps = uncertainty(out["y_hat"][1:])
        record["uncertainty"] = [uncertainty_summary(s, t, x_hat) for s, t, x_hat in
                                 zip(maps, out["targets"], out["x_hat"][:-1], strict=False)]
    return record


def uncertainty_summary(s: Tensor, x: Tensor, x_hat: Tensor) -> dict:
    """Quantiles of an uncertainty map and its correlation with the log squared error."""
    levels = torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95], device=s.device)
    q = torch.quantile(s.flatten()[:1_000_000], levels)
    err = torch.log(255.0**2 * (x - x_hat) ** 2 + 1e-3).flatten()
    corr = torch.corrcoef(torch.stack([s.flatten(), err]))[0, 1]
    return {"quantiles_5_25_50_75_95": [round(float(v), 3) for v in q],
            "corr_with_log_err": round(float(corr), 3)}
