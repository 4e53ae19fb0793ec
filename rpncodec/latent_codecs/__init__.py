"""Latent codecs: what each level entropy-codes, and how (contract in :mod:`.base`)."""

from __future__ import annotations

from .base import Context, LatentCodec
from .factorized import FactorizedResidual

# name (as in ModelConfig.latent_codec) -> class; a class is built with the level's width
LATENT_CODECS: dict[str, type[LatentCodec]] = {
    "factorized": FactorizedResidual,
}

__all__ = ["LATENT_CODECS", "Context", "FactorizedResidual", "LatentCodec"]
