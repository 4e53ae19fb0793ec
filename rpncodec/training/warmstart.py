"""Warm starts: a spatial model from single-layer models (each level begins as a trained
single-layer codec of its own resolution), and a spatial-quality model from a spatial and a
quality model.

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


@torch.no_grad()
def spatial_quality_from(model: LayeredModel, spatial: LayeredModel,
                         quality: LayeredModel) -> None:
    """Start a spatial-quality model (:class:`~rpncodec.models.SpatialQualityRPN`): its
    spatial levels are ``spatial``'s (weights and coding tables, so its first layers code
    exactly as ``spatial`` does while they stay frozen), and each full-size level k above them
    takes the analysis, latent codec and prediction of ``quality``'s level k (1-based: the
    first quality level above the full-size spatial one is quality's level 3), with the
    synthesis of the level below grown by zero weights on the new latent (as
    :func:`~.progressive.grow_level`), so every new layer starts at the quality of the one
    below and training can only buy improvements with its bits."""
    top = len(spatial.levels)
    if spatial.config.widths != model.config.widths[:top]:
        raise ValueError(f"spatial widths {spatial.config.widths} do not match "
                         f"{model.config.widths[:top]}")
    for level, source in zip(model.levels, spatial.levels, strict=False):
        level.load_state_dict(source.state_dict())
    for k in range(top, len(model.levels)):
        level, source = model.levels[k], quality.levels[k - 1]
        for part in ("analysis", "latent_codec", "prediction"):
            getattr(level, part).load_state_dict(getattr(source, part).state_dict())
        below = model.levels[k - 1].synthesis.state_dict()
        grown = torch.zeros_like(level.synthesis[0].weight)
        grown[: below["0.weight"].shape[0]] = below["0.weight"]
        level.synthesis.load_state_dict({**below, "0.weight": grown})
