"""Level-by-level ("progressive") training of a quality model.

Why: trained jointly on a CPU budget, QualityRPN's upper levels collapse to zero rate
(docs/training.md): early on every synthesis leans on level 1's latent, the upper levels'
bits buy no distortion, and the rate term prunes them before their syntheses learn to use them.

Phase k trains level k alone (its analysis, entropy model, prediction module and synthesis),
with the levels below frozen and nothing above run; its loss is layer k's
``lambda_k * (bits of levels 1..k) / pixels + D_k``, so the only way to lower D_k is to spend
level k's own bits. A *new* level starts from the one below: its analysis is a copy, and its
synthesis a copy whose weights on the new latent are zero, so layer k starts exactly at layer
k-1's quality and can only improve on it; its entropy model and prediction module start fresh
(an entropy model that has collapsed to a spike at zero would keep every residual at zero).
"""

from __future__ import annotations

import torch

from ..models import LayeredModel


def train_only(model: LayeredModel, level: int) -> None:
    """Freeze every parameter except those of level ``level`` (1-based)."""
    model.requires_grad_(False)
    model.levels[level - 1].requires_grad_(True)


@torch.no_grad()
def grow_level(model: LayeredModel, level: int) -> None:
    """Start level ``level`` (1-based, > 1) from the level below: analysis copied, synthesis
    copied with zero weights on the new latent's input channels (needs equal widths), latent
    codec and prediction module freshly initialised. Parameters are updated in place, so an
    optimiser holding them stays valid."""
    from ..models import build_model

    new, below = model.levels[level - 1], model.levels[level - 2]
    w = model.config.widths
    if w[level - 1] != w[level - 2]:
        raise ValueError(f"level {level} cannot grow from level {level - 1}: widths {w}")
    fresh = build_model(model.config).levels[level - 1]
    new.latent_codec.load_state_dict(fresh.latent_codec.state_dict())
    new.prediction.load_state_dict(fresh.prediction.state_dict())
    new.analysis.load_state_dict(below.analysis.state_dict())
    source = below.synthesis.state_dict()
    first = source["0.weight"]  # ConvTranspose2d: [in, out, kh, kw]
    grown = torch.zeros_like(new.synthesis[0].weight)
    grown[: first.shape[0]] = first
    new.synthesis.load_state_dict({**source, "0.weight": grown})
