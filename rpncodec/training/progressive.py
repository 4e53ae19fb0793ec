"""Level-by-level ("progressive") training of a quality model.

Why: trained jointly on a CPU budget, QualityRPN's upper levels collapse to zero rate (README,
Training): early on every synthesis leans on level 1's latent, the upper levels' bits buy no
distortion, and the rate term prunes them before their syntheses learn to use them.

Phase k trains level k alone (its analysis, entropy model, prediction module and synthesis),
with the levels below frozen and nothing above run; its loss is layer k's
``lambda_k * (bits of levels 1..k) / pixels + D_k``, so the only way to lower D_k is to spend
level k's own bits. A *new* level starts from the one below: its analysis is a copy, and its
synthesis a copy whose weights on the new latent are zero, so layer k starts exactly at layer
k-1's quality and can only improve on it; its entropy model and prediction module start fresh
(an entropy model that has collapsed to a spike at zero would keep every residual at zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Phase:
    """The level (1-based) a global step trains, and where its phase starts and ends."""

    level: int
    start: int
    steps: int

    def progress(self, step: int) -> int:
        """Steps done in this phase before ``step``."""
        return step - self.start


def phase_at(step: int, steps_per_level: list[int]) -> Phase:
    """Phase of a global step (resume-safe: a pure function of the step)."""
    start = 0
    for level, n in enumerate(steps_per_level, 1):
        if step < start + n or level == len(steps_per_level):
            return Phase(level, start, n)
        start += n
    raise ValueError("no phases")


def level_prefixes(level: int) -> tuple[str, ...]:
    """Parameter-name prefixes of level ``level`` (1-based) in a QualityRPN."""
    i = level - 1
    own = (f"analyses.{i}.", f"syntheses.{i}.", f"bottlenecks.{i}.")
    return (*own, f"predictions.{i - 1}.") if i else own


def train_only(model: nn.Module, level: int) -> None:
    """Freeze every parameter except level ``level``'s."""
    prefixes = level_prefixes(level)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(prefixes))


@torch.no_grad()
def grow_level(model: nn.Module, level: int) -> None:
    """Start level ``level`` (1-based, > 1) from the level below: analysis copied, synthesis
    copied with zero weights on the new latent's input channels (needs equal widths), entropy
    model and prediction module freshly initialised. Parameters are updated in place, so an
    optimiser holding them stays valid."""
    from ..models import build_model

    i = level - 1
    w = model.config.widths
    if w[i] != w[i - 1]:
        raise ValueError(f"level {level} cannot grow from level {level - 1}: widths {w}")
    fresh = build_model(model.config)
    model.bottlenecks[i].load_state_dict(fresh.bottlenecks[i].state_dict())
    model.predictions[i - 1].load_state_dict(fresh.predictions[i - 1].state_dict())
    model.analyses[i].load_state_dict(model.analyses[i - 1].state_dict())
    source = model.syntheses[i - 1].state_dict()
    first = source["0.weight"]  # ConvTranspose2d: [in, out, kh, kw]
    grown = torch.zeros_like(model.syntheses[i][0].weight)
    grown[: first.shape[0]] = first
    model.syntheses[i].load_state_dict({**source, "0.weight": grown})
