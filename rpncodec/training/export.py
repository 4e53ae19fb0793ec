"""The shipped weights format: fp16 floats, int32 entropy tables, the config as JSON."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ..imageio import atomic_output
from ..models import LayeredModel


def save_atomic(obj: object, path: str | Path) -> None:
    """``torch.save`` that never leaves half a file (:func:`rpncodec.imageio.atomic_output`)."""
    with atomic_output(path) as temp:
        torch.save(obj, temp)


def settle_quantiles(model: LayeredModel, steps: int = 3000, lr: float = 1e-2,
                     frozen: int = 0) -> float:
    """Fit the latent codecs' auxiliary parameters alone (cheap: no image pass) before
    building tables, of every level but the first ``frozen``."""
    codecs = [level.latent_codec for level in model.levels[frozen:]]
    params = [p for codec in codecs for p in codec.aux_parameters()]
    if not params:  # conditional codecs have no auxiliary parameters
        return 0.0
    for p in params:  # level-by-level training may have left them frozen
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    loss = torch.zeros(())
    for _ in range(steps):
        loss = sum(codec.aux_loss() for codec in codecs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return float(loss.detach())


def export(model: LayeredModel, path: str | Path, settle_steps: int = 3000,
           frozen: int = 0) -> str:
    """Write the shipped format (fp16 weights, int tables, JSON config); return its sha256.
    The first ``frozen`` levels keep their tables (and so their bytes) as they are."""
    model = model.cpu()  # the tables are built where they are used
    settle_quantiles(model, settle_steps, frozen=frozen)
    for level in model.levels[frozen:]:
        level.latent_codec.update()
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    save_atomic({"config": model.config.to_dict(), "state_dict": state}, path)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
