"""Latent codecs: what each level entropy-codes, and how (contract in :mod:`.base`)."""

from __future__ import annotations

from ..latent_specs import LATENT_CODECS, LatentCodecSpec, latent_codec_spec
from .base import Context, LatentCodec
from .conditional import ConditionalResidual
from .factorized import FactorizedResidual
from .hyperprior import HyperpriorLatent


def _factorized(spec: LatentCodecSpec, width: int, lower: int | None) -> LatentCodec:
    return FactorizedResidual(width)


def _conditional(spec: LatentCodecSpec, width: int, lower: int | None) -> LatentCodec:
    return ConditionalResidual(width, lower, use_prior=spec.use_prior, means=spec.means)


def _hyperprior(spec: LatentCodecSpec, width: int, lower: int | None) -> LatentCodec:
    return HyperpriorLatent(width, means=spec.means)


# family (rpncodec.latent_specs.FAMILIES) -> factory(spec, width of the level, of the level below)
FAMILY_MODULES = {"factorized": _factorized, "conditional": _conditional,
                  "hyperprior": _hyperprior}

__all__ = ["FAMILY_MODULES", "LATENT_CODECS", "ConditionalResidual", "Context",
           "FactorizedResidual", "HyperpriorLatent", "LatentCodec", "build_latent_codec"]


def build_latent_codec(name: str, widths: tuple[int, ...], k: int) -> LatentCodec:
    """Level ``k``'s (0-based) latent codec called ``name``, for levels of ``widths``."""
    spec = latent_codec_spec(name)
    return FAMILY_MODULES[spec.family](spec, widths[k], widths[k - 1] if k else None)
