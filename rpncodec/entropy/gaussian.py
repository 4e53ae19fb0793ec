"""Gaussian conditional density with integer coding tables indexed by a quantised scale.

A symbol ``s = round(y - mean)`` has likelihood ``Phi((s + 1/2) / sigma) - Phi((s - 1/2) /
sigma)``, where ``sigma`` is predicted per element by a network from what the decoder holds.
For coding, ``sigma`` is snapped to one of :data:`SCALES` (log-spaced, CompressAI's scale-table
idea) and each table index has its own integer frequency table over ``[-L, L]`` plus an escape
entry (:mod:`.ans`), built once by :meth:`GaussianConditional.update` and stored with the
weights. Symbols are coded a group per table index.

Exactness: the table index depends on a float network output, so an encoder and a decoder
whose float arithmetic differs could pick different tables near a boundary (CompressAI issues
#279/#309). The coded payload therefore starts with a CRC32 of the index map: a decoder that
computes other indices stops with a clear error instead of decoding garbage.
"""

from __future__ import annotations

import math
import struct
import zlib
from statistics import NormalDist

import numpy as np
import torch
from torch import Tensor

from ..errors import BitstreamError
from .ans import decode_groups, encode_groups, quantize_pmf
from .tables import CodingTables

SCALE_MIN, SCALE_MAX, LEVELS = 0.11, 64.0, 64
SCALES = np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), LEVELS))
TAIL_MASS = 1e-9
LIKELIHOOD_BOUND = 1e-9
_CRC = struct.Struct(">I")


def _std_cdf(x: Tensor) -> Tensor:
    return 0.5 * torch.erfc(-x * (2**-0.5))


def likelihood(values: Tensor, scales: Tensor) -> Tensor:
    """Mass of the unit bin around each (mean-centred) value under N(0, scale)."""
    scales = scales.clamp_min(SCALE_MIN)
    v = values.abs()  # symmetric: use the upper tail for precision
    upper = _std_cdf((0.5 - v) / scales)
    lower = _std_cdf((-0.5 - v) / scales)
    return (upper - lower).clamp_min(LIKELIHOOD_BOUND)


class GaussianConditional(CodingTables):
    """Tables and coding for mean-centred symbols under predicted scales."""

    @staticmethod
    def indices(scales: Tensor) -> Tensor:
        """Table index of each scale: the first table whose scale is at least it."""
        table = torch.tensor(SCALES[:-1], dtype=scales.dtype, device=scales.device)
        return torch.bucketize(scales.clamp_min(SCALE_MIN).contiguous(), table)

    @torch.no_grad()
    def update(self) -> None:
        """Build one integer table per scale level over ``[-L, L]`` with L the tail quantile."""
        tail = -NormalDist().inv_cdf(TAIL_MASS / 2)
        spans = np.ceil(SCALES * tail).astype(np.int64)
        length = int(2 * spans.max() + 2)
        freqs = np.zeros((LEVELS, length), dtype=np.int32)
        for i, (scale, span) in enumerate(zip(SCALES, spans, strict=True)):
            values = torch.arange(-span, span + 1, dtype=torch.float64)
            pmf = likelihood(values, torch.tensor(scale, dtype=torch.float64)).numpy()
            probs = np.append(pmf, max(1 - pmf.sum(), 0.0))
            freqs[i, : len(probs)] = quantize_pmf(probs)
        self.set_tables(torch.from_numpy(spans.astype(np.int32)), torch.from_numpy(freqs))


    def _grouped(self, scales: Tensor) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
        """The index map of ``scales`` (flat), the element order that groups it by table
        (raster order within a table), and the tables used with their counts."""
        idx = self.indices(scales).cpu().numpy().reshape(-1).astype(np.uint8)  # < 64 tables
        order = np.argsort(idx, kind="stable")  # a radix sort for uint8
        counts = np.bincount(idx, minlength=LEVELS)
        used = np.flatnonzero(counts)
        return idx, order, used.tolist(), counts[used].tolist()

    def compress(self, symbols: Tensor, scales: Tensor) -> bytes:
        """Code integer ``symbols`` (any shape) with the tables of ``scales`` (same shape)."""
        idx, order, used, counts = self._grouped(scales)
        sym = symbols.cpu().numpy().reshape(-1).astype(np.int64)[order]
        data = encode_groups(np.split(sym, np.cumsum(counts)[:-1]), used, self.coding_models(),
                             self.offsets.cpu().numpy())
        return _CRC.pack(zlib.crc32(idx.tobytes())) + data

    def decompress(self, data: bytes, scales: Tensor) -> Tensor:
        """Integer symbols of ``scales``' shape from :meth:`compress`'s bytes."""
        if len(data) < _CRC.size:
            raise BitstreamError("damaged layer payload (too short for its index check)")
        idx, order, used, counts = self._grouped(scales)
        if zlib.crc32(idx.tobytes()) != _CRC.unpack_from(data)[0]:
            raise BitstreamError("the decoder's entropy-model indices differ from the "
                                 "encoder's (other float arithmetic, or damaged data)")
        groups = decode_groups(data[_CRC.size:], counts, used, self.coding_models(),
                               self.offsets.cpu().numpy())
        sym = np.empty(idx.shape, dtype=np.int64)
        sym[order] = np.concatenate(groups)
        return torch.from_numpy(sym.reshape(scales.shape))
