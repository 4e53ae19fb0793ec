"""The latent codecs by name: one registry for both backends (torch-free).

A name (as in :attr:`rpncodec.models.config.ModelConfig.latent_codecs`) stands for a codec
family and its options. The torch backend builds the family's module
(:func:`rpncodec.latent_codecs.build_latent_codec`), the numpy runtime its decoder over the
exported graphs (:func:`rpncodec.runtime.latent.build_latent_codec`); each backend maps every
family in :data:`FAMILIES` to its class, so a name added here is one both backends know.
"""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES = ("factorized", "conditional", "hyperprior")


@dataclass(frozen=True)
class LatentCodecSpec:
    """A codec family and its options.

    family: "factorized" (the paper's residual under a per-channel density), "conditional"
        (a Gaussian whose scale a head predicts from the level below; level k > 1 only) or
        "hyperprior" (scales from a side latent).
    use_prior: the mean includes the resolution field (conditional; False is the "no
        prediction" ablation).
    means: the network also predicts a mean shift per element (conditional, hyperprior).
    """

    family: str
    use_prior: bool = True
    means: bool = False

    @property
    def needs_lower(self) -> bool:
        """Whether the codec reads the level below (so cannot code level 1)."""
        return self.family == "conditional"


LATENT_CODECS: dict[str, LatentCodecSpec] = {
    "factorized": LatentCodecSpec("factorized"),
    "conditional": LatentCodecSpec("conditional"),
    "conditional-mean0": LatentCodecSpec("conditional", use_prior=False),
    "conditional-ms": LatentCodecSpec("conditional", means=True),
    "hyperprior": LatentCodecSpec("hyperprior"),
    "hyperprior-ms": LatentCodecSpec("hyperprior", means=True),
}


def latent_codec_spec(name: str) -> LatentCodecSpec:
    """The spec of the latent codec called ``name`` (ValueError if there is none)."""
    if name not in LATENT_CODECS:
        raise ValueError(f"unknown latent codec {name!r}; expected one of "
                         f"{', '.join(LATENT_CODECS)}")
    return LATENT_CODECS[name]
