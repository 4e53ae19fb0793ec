"""Model architectures and their configurations."""

from __future__ import annotations

from torch import nn

from .config import ModelConfig, preset
from .quality import QualityRPN

__all__ = ["ModelConfig", "QualityRPN", "build_model", "preset"]


def build_model(config: ModelConfig) -> nn.Module:
    """The architecture a config describes (single-layer = one quality level)."""
    if config.mode in ("quality", "single"):
        return QualityRPN(config)
    raise NotImplementedError("spatial mode is not built yet")
