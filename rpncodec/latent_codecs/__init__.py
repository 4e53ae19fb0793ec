"""Latent codecs: what each level entropy-codes, and how (contract in :mod:`.base`)."""

from __future__ import annotations

from functools import partial

from .base import Context, LatentCodec
from .conditional import ConditionalResidual
from .factorized import FactorizedResidual
from .hyperprior import HyperpriorLatent

# name (as in ModelConfig.latent_codecs) -> factory(width of the level, width of the level below)
LATENT_CODECS = {
    "factorized": lambda width, lower: FactorizedResidual(width),
    "conditional": ConditionalResidual,
    "conditional-mean0": partial(ConditionalResidual, use_prior=False),
    "conditional-ms": partial(ConditionalResidual, means=True),
    "hyperprior": lambda width, lower: HyperpriorLatent(width),
    "hyperprior-ms": lambda width, lower: HyperpriorLatent(width, means=True),
}

__all__ = ["LATENT_CODECS", "ConditionalResidual", "Context", "FactorizedResidual",
           "HyperpriorLatent", "LatentCodec", "build_latent_codec"]


def build_latent_codec(name: str, widths: tuple[int, ...], k: int) -> LatentCodec:
    """Level ``k``'s (0-based) latent codec called ``name``, for levels of ``widths``."""
    if name not in LATENT_CODECS:
        raise ValueError(f"unknown latent codec {name!r}; expected one of "
                         f"{', '.join(LATENT_CODECS)}")
    return LATENT_CODECS[name](widths[k], widths[k - 1] if k else None)
