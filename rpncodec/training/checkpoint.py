"""Checkpoints: everything an exact resume needs (weights, optimisers, random streams, step,
and whether a time budget has fitted the schedule), written atomically."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .export import save_atomic

if TYPE_CHECKING:
    from .trainer import Trainer


def save_checkpoint(trainer: Trainer, path: Path) -> None:
    """Write ``trainer``'s whole state to ``path``."""
    t = trainer
    save_atomic({"config": asdict(t.cfg), "model_config": t.model.config.to_dict(),
                 "model": t.model.state_dict(), "uncertainty": t.uncertainty.state_dict(),
                 "opt": t.opt.state_dict(), "aux_opt": t.aux_opt and t.aux_opt.state_dict(),
                 "unc_opt": t.unc_opt and t.unc_opt.state_dict(), "step": t.step,
                 "gen": t.gen.get_state(), "torch_rng": torch.get_rng_state(),
                 "fitted": t.fitted}, path)


def load_checkpoint(trainer: Trainer, path: Path) -> None:
    """Restore ``trainer`` from :func:`save_checkpoint`'s file.

    An unfinished time-budgeted run keeps the schedule it was fitted to; resuming a finished
    one extends it with this invocation's ``--steps`` / ``--minutes``.
    """
    t = trainer
    state = torch.load(path, weights_only=True, map_location=t.device)
    t.model.load_state_dict(state["model"])
    t.opt.load_state_dict(state["opt"])
    if t.aux_opt:
        t.aux_opt.load_state_dict(state["aux_opt"])
    if t.unc_opt and "uncertainty" in state:  # older checkpoints lack these
        t.uncertainty.load_state_dict(state["uncertainty"])
        t.unc_opt.load_state_dict(state["unc_opt"])
    t.step = state["step"]
    saved = state["config"]
    if state.get("fitted") and t.step < saved["steps"]:
        t.cfg.steps, t.cfg.progressive = saved["steps"], saved["progressive"]
        t.fitted = True
    if t.rank == 0:  # other ranks keep their own streams
        t.gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
