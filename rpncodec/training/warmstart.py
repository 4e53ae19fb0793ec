"""Warm start of a spatial model from single-layer models: each level begins as a trained
single-layer codec of its own resolution.

Why: SpatialRPN trained from scratch on this project's budget stayed below simulcast (three
independent single-layer files whose sizes add up) at every layer, although its level k only
has to code what the prediction from level k-1 misses. A single-layer model has exactly the
analysis, synthesis and entropy model of one spatial level (same names and shapes), so level
k can start as the single-layer model closest to its lambda, with its prediction module's
output zeroed: then ``y_k - P_k(ŷ_{k-1}) = y_k`` and the untrained spatial model codes every
layer exactly like simulcast. Training can only move it from there by making the prediction
carry information across resolutions, which is the point of the architecture.
"""

from __future__ import annotations

import torch

from ..models import LayeredModel


@torch.no_grad()
def levels_from_singles(model: LayeredModel, singles: list[LayeredModel]) -> None:
    """Copy single-layer model k's level into level k of ``model`` (a SpatialRPN) and zero
    the output of every prediction module. Entropy tables are not copied (they are rebuilt by
    ``update()`` at export)."""
    if len(singles) != len(model.levels):
        raise ValueError(f"need one single-layer model per level ({len(model.levels)}), "
                         f"got {len(singles)}")
    for k, (level, single) in enumerate(zip(model.levels, singles, strict=True)):
        if single.config.widths[0] != model.config.widths[k]:
            raise ValueError(f"level {k + 1} has width {model.config.widths[k]}, the "
                             f"single-layer model {single.config.widths[0]}")
        source = single.levels[0]
        for part in ("analysis", "latent_codec", "synthesis"):
            params = dict(getattr(source, part).named_parameters())
            for name, p in getattr(level, part).named_parameters():
                p.copy_(params[name])
        if level.prediction is not None:
            level.prediction.zero_output()
