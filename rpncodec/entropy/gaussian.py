"""Gaussian conditional density with integer coding tables indexed by a quantised scale.

A symbol ``s = round(y - mean)`` has likelihood ``Phi((s + 1/2) / sigma) - Phi((s - 1/2) /
sigma)``, where ``sigma`` is predicted per element by a network from what the decoder holds.
For coding, ``sigma`` is snapped to one of :data:`SCALES` (log-spaced, CompressAI's scale-table
idea) and each table index has its own integer frequency table over ``[-L, L]`` plus an escape
entry (:mod:`.ans`), built once by :meth:`GaussianConditional.update` and stored with the
weights. Symbols are coded a group per table index.

Coding, the index rule and its check live in :mod:`.coding` (shared with the torch-free
runtime); this module holds the density and builds the tables.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import torch
from torch import Tensor

from .ans import quantize_pmf
from .coding import LEVELS, SCALE_MIN, SCALES, decode_by_scale, encode_by_scale
from .tables import CodingTables

TAIL_MASS = 1e-9
LIKELIHOOD_BOUND = 1e-9


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


    def compress(self, symbols: Tensor, scales: Tensor) -> bytes:
        """Code integer ``symbols`` (any shape) with the tables of ``scales`` (same shape)."""
        return encode_by_scale(symbols.cpu().numpy(), scales.cpu().numpy(),
                               self.coding_models(), self.offsets.cpu().numpy())

    def decompress(self, data: bytes, scales: Tensor) -> Tensor:
        """Integer symbols of ``scales``' shape from :meth:`compress`'s bytes."""
        return torch.from_numpy(decode_by_scale(data, scales.cpu().numpy(),
                                                self.coding_models(),
                                                self.offsets.cpu().numpy()))
