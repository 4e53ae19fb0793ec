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
from torch import nn


@torch.no_grad()
def levels_from_singles(model: nn.Module, singles: list[nn.Module]) -> None:
    """Copy single-layer model k's parameters into level k of ``model`` (a SpatialRPN) and zero
    the last layer of every prediction module. Entropy tables are not copied (they are
    rebuilt by ``update()`` at export)."""
    if len(singles) != len(model.analyses):
        raise ValueError(f"need one single-layer model per level ({len(model.analyses)}), "
                         f"got {len(singles)}")
    own = dict(model.named_parameters())
    for k, single in enumerate(singles):
        if single.config.widths[0] != model.config.widths[k]:
            raise ValueError(f"level {k + 1} has width {model.config.widths[k]}, the "
                             f"single-layer model {single.config.widths[0]}")
        for name, p in single.named_parameters():  # "analyses.0.…" -> "analyses.k.…"
            head, _, rest = name.split(".", 2)
            own[f"{head}.{k}.{rest}"].copy_(p)
    for prediction in model.predictions:
        last = prediction.ieb5.fuse
        last.weight.zero_()
        last.bias.zero_()
