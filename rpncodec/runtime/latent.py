"""The latent codecs in numpy (float64), for the torch-free runtime.

Each mirrors its torch twin in :mod:`rpncodec.latent_codecs` at inference: the same
rounding, the same order of float operations, the same payload, and the entropy coding itself
is the shared :mod:`rpncodec.entropy.coding`. The networks that choose entropy tables (scale
heads, the hyperprior's transforms) are the torch modules' exported float64 graphs, run by
:mod:`.graph`, so both backends pick the same tables (``rpncodec.latent_codecs.base``,
"Precision"). Which family a name stands for is the shared registry,
:data:`rpncodec.latent_specs.LATENT_CODECS`.

``params`` are a codec's state-dict entries, keys relative to the codec (``"offset"``,
``"bottleneck.freqs"``...); ``nets`` gives its exported networks by name (``"head"``...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ..entropy.ans import table_models
from ..entropy.coding import (
    decode_by_channel,
    decode_by_scale,
    encode_by_channel,
    encode_by_scale,
    join_parts,
    split_parts,
)
from ..latent_specs import LatentCodecSpec, latent_codec_spec
from . import ops
from .graph import Graph

Array = np.ndarray


class Tables:
    """A density's stored integer tables (``<prefix>offsets``, ``<prefix>freqs``)."""

    def __init__(self, params: Mapping[str, Array], prefix: str) -> None:
        self.offsets = np.asarray(params[prefix + "offsets"], dtype=np.int32)
        self.freqs = np.asarray(params[prefix + "freqs"], dtype=np.int32)
        self._models: list | None = None

    @property
    def models(self) -> list:
        if self._models is None:  # built on first use: a decode of layer 1 needs one level
            self._models = table_models(self.freqs)
        return self._models


class Factorized:
    """A per-channel factorized density: median rounding and per-channel tables."""

    def __init__(self, params: Mapping[str, Array], prefix: str) -> None:
        self.medians = np.asarray(params[prefix + "quantiles"], dtype=np.float64)[:, 0, 1]
        self.tables = Tables(params, prefix)

    def symbols(self, y: Array) -> Array:
        return np.floor(y - self.medians.reshape(1, -1, 1, 1) + 0.5)

    def compress(self, y: Array) -> tuple[bytes, Array]:
        """Bytes and the dequantised ``y`` (batch of one)."""
        s = self.symbols(y)
        data = encode_by_channel(s[0].astype(np.int64), self.tables.models, self.tables.offsets)
        return data, s + self.medians.reshape(1, -1, 1, 1)

    def decompress(self, data: bytes, size: tuple[int, int]) -> Array:
        s = decode_by_channel(data, len(self.medians), size, self.tables.models,
                              self.tables.offsets)
        return s[None].astype(np.float64) + self.medians.reshape(1, -1, 1, 1)


def _split(out: Array, offset: Array, means: bool) -> tuple[Array, Array]:
    """(shift, scale) of a head's output, as :func:`rpncodec.latent_codecs.conditional.
    split_head`."""
    c = offset.size
    shift = offset.reshape(1, -1, 1, 1)
    with np.errstate(over="ignore"):  # damaged data: an infinite scale is the last table's
        scale = np.exp(out[:, :c])
    return (shift + out[:, c:] if means else shift), scale


class FactorizedResidual:
    """The paper's codec: ``y - prior`` under a factorized density."""

    def __init__(self, spec: LatentCodecSpec, params: Mapping[str, Array],
                 nets: Callable[[str], Graph]) -> None:
        self.bottleneck = Factorized(params, "bottleneck.")

    def compress(self, y: Array, lower: Array | None, prior: Array | None) -> tuple[bytes, Array]:
        data, r_hat = self.bottleneck.compress(y if prior is None else y - prior)
        return data, r_hat if prior is None else prior + r_hat

    def decompress(self, data: bytes, size: tuple[int, int], lower: Array | None,
                   prior: Array | None) -> Array:
        r_hat = self.bottleneck.decompress(data, size)
        return r_hat if prior is None else prior + r_hat


class ConditionalResidual:
    """``y ~ N(prior + offset, exp(head([up(lower), prior])))``."""

    def __init__(self, spec: LatentCodecSpec, params: Mapping[str, Array],
                 nets: Callable[[str], Graph]) -> None:
        self.use_prior, self.means = spec.use_prior, spec.means
        self.offset = np.asarray(params["offset"], dtype=np.float64)
        self.head = nets("head")
        self.tables = Tables(params, "gaussian.")

    def _shift_scale(self, lower: Array, prior: Array, size: tuple[int, int]) -> tuple[Array,
                                                                                       Array]:
        if lower.shape[-2:] != tuple(size):  # spatial mode: the lower level is half the size
            lower = ops.up_nearest2(lower)[..., : size[0], : size[1]]
        return _split(self.head(np.concatenate([lower, prior], 1)), self.offset, self.means)

    def compress(self, y: Array, lower: Array, prior: Array) -> tuple[bytes, Array]:
        shift, scale = self._shift_scale(lower, prior, y.shape[-2:])
        symbols = np.floor((y - prior if self.use_prior else y) - shift + 0.5)
        data = encode_by_scale(symbols.astype(np.int64), scale, self.tables.models,
                               self.tables.offsets)
        return data, self._latent(symbols + shift, prior)

    def decompress(self, data: bytes, size: tuple[int, int], lower: Array,
                   prior: Array) -> Array:
        shift, scale = self._shift_scale(lower, prior, size)
        symbols = decode_by_scale(data, scale, self.tables.models, self.tables.offsets)
        return self._latent(symbols.astype(np.float64) + shift, prior)

    def _latent(self, r_hat: Array, prior: Array) -> Array:
        return prior + r_hat if self.use_prior else r_hat


def _hyper_size(size: tuple[int, int]) -> tuple[int, int]:
    return (size[0] + 3) // 4, (size[1] + 3) // 4


class HyperpriorLatent:
    """Level 1 under scales from a side latent ``z``: ``len(z bytes)`` u32 | z | y."""

    def __init__(self, spec: LatentCodecSpec, params: Mapping[str, Array],
                 nets: Callable[[str], Graph]) -> None:
        self.means = spec.means
        self.offset = np.asarray(params["offset"], dtype=np.float64)
        self.h_a, self.h_s = nets("h_a"), nets("h_s")
        self.z = Factorized(params, "z_bottleneck.")
        self.tables = Tables(params, "gaussian.")

    def _shift_scale(self, z_hat: Array, size: tuple[int, int]) -> tuple[Array, Array]:
        return _split(self.h_s(z_hat)[..., : size[0], : size[1]], self.offset, self.means)

    def compress(self, y: Array, lower: None, prior: None) -> tuple[bytes, Array]:
        z_data, z_hat = self.z.compress(self.h_a(np.abs(y)))
        shift, scale = self._shift_scale(z_hat, y.shape[-2:])
        symbols = np.floor(y - shift + 0.5)
        data = encode_by_scale(symbols.astype(np.int64), scale, self.tables.models,
                               self.tables.offsets)
        return join_parts(z_data, data), symbols + shift

    def decompress(self, data: bytes, size: tuple[int, int], lower: None, prior: None) -> Array:
        z_data, data = split_parts(data, "side information")
        z_hat = self.z.decompress(z_data, _hyper_size(size))
        shift, scale = self._shift_scale(z_hat, size)
        symbols = decode_by_scale(data, scale, self.tables.models, self.tables.offsets)
        return symbols.astype(np.float64) + shift


# family (rpncodec.latent_specs.FAMILIES) -> its numpy class
FAMILY_CLASSES = {"factorized": FactorizedResidual, "conditional": ConditionalResidual,
                  "hyperprior": HyperpriorLatent}


def build_latent_codec(name: str, params: Mapping[str, Array], nets: Callable[[str], Graph]):
    """The numpy latent codec called ``name`` from its parameters and exported networks."""
    spec = latent_codec_spec(name)
    return FAMILY_CLASSES[spec.family](spec, params, nets)
