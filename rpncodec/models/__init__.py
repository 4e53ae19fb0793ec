"""Model architectures, their configurations and the contract the codec relies on.

The configuration (:mod:`.config`) is torch-free and imported at once; the torch modules are
imported on first use, so the torch-free runtime (:mod:`rpncodec.runtime`) can read a
:class:`ModelConfig` without importing torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .config import ModelConfig, preset

if TYPE_CHECKING:
    from .base import LayeredModel
    from .level import Level
    from .protocol import ScalableModel
    from .quality import QualityRPN
    from .spatial import SpatialRPN
    from .spatial_quality import SpatialQualityRPN

_LAZY = {"LayeredModel": ".base", "Level": ".level", "ScalableModel": ".protocol",
         "QualityRPN": ".quality", "SpatialRPN": ".spatial",
         "SpatialQualityRPN": ".spatial_quality"}

__all__ = ["LayeredModel", "Level", "ModelConfig", "QualityRPN", "ScalableModel",
           "SpatialQualityRPN", "SpatialRPN", "build_model", "preset"]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_model(config: ModelConfig) -> LayeredModel:
    """The architecture a config describes (single-layer = one quality level)."""
    from .quality import QualityRPN
    from .spatial import SpatialRPN
    from .spatial_quality import SpatialQualityRPN

    cls = {"spatial": SpatialRPN, "spatial-quality": SpatialQualityRPN}.get(config.mode,
                                                                             QualityRPN)
    return cls(config)
