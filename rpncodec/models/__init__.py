"""Model architectures, their configurations and the contract the codec relies on."""

from __future__ import annotations

from .base import LayeredModel
from .config import ModelConfig, preset
from .level import Level
from .protocol import ScalableModel
from .quality import QualityRPN
from .spatial import SpatialRPN

__all__ = ["LayeredModel", "Level", "ModelConfig", "QualityRPN", "ScalableModel", "SpatialRPN",
           "build_model", "preset"]


def build_model(config: ModelConfig) -> LayeredModel:
    """The architecture a config describes (single-layer = one quality level)."""
    return SpatialRPN(config) if config.mode == "spatial" else QualityRPN(config)
