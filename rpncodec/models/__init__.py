"""Model architectures and their configurations."""

from __future__ import annotations

from torch import nn

from .config import ModelConfig, preset
from .quality import QualityRPN
from .spatial import SpatialRPN

__all__ = ["ModelConfig", "QualityRPN", "SpatialRPN", "build_model", "preset"]


def build_model(config: ModelConfig) -> nn.Module:
    """The architecture a config describes (single-layer = one quality level)."""
    return SpatialRPN(config) if config.mode == "spatial" else QualityRPN(config)
