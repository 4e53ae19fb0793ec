"""Coding of integer symbols with stored integer tables, in numpy only (no torch).

The two density families' coding rules, written once and called by both backends: the torch
modules (:mod:`.factorized`, :mod:`.gaussian`) after their networks, and the torch-free runtime
(:mod:`rpncodec.runtime`). What is coded, in which order, and the index check all live here,
so the two backends cannot drift apart.

- *By channel* (factorized densities): one table per channel, symbols in raster order.
- *By scale* (Gaussian conditionals): each element's table is the first of :data:`SCALES` at
  least its predicted scale; elements are coded grouped by table (raster order within a
  table), after a CRC32 of the index map. A decoder that computes other indices than the
  encoder (other arithmetic near a table boundary, or damaged data) stops with
  :class:`BitstreamError` instead of decoding garbage.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

from ..errors import BitstreamError
from .ans import decode_groups, encode_groups

SCALE_MIN, SCALE_MAX, LEVELS = 0.11, 64.0, 64
SCALES = np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), LEVELS))
_LOG_STEP = math.log(SCALE_MAX / SCALE_MIN) / (LEVELS - 1)
# _BELOW[i] = the table under index i (index = the number of tables below a scale)
_BELOW = np.concatenate([[-np.inf], SCALES[:-1], [np.inf]])
_U32 = struct.Struct(">I")  # an index CRC, or the length of a payload's first part


def scale_indices(scales: np.ndarray) -> np.ndarray:
    """Table index of each scale (any float dtype): the first table whose scale, in that
    dtype, is at least it. Scales below :data:`SCALE_MIN` use table 0.

    The tables are log-spaced, so a float32 logarithm finds each index to within one; exact
    comparisons in ``scales``' dtype then settle it (2-5x faster than a binary search).
    """
    dtype = scales.dtype.type
    # beyond the last table every scale is the same (and NaN, from no valid file, is table 0)
    s = np.fmin(np.fmax(scales, dtype(SCALE_MIN)), dtype(2 * SCALE_MAX))
    below = _BELOW.astype(dtype, copy=False)
    guess = np.log(s.astype(np.float32))
    guess -= np.float32(math.log(SCALE_MIN))
    guess *= np.float32(1 / _LOG_STEP)
    np.clip(np.ceil(guess, out=guess), 0, LEVELS - 1, out=guess)
    idx = guess.astype(np.uint8)
    idx -= np.take(below, idx) >= s
    idx += np.take(below, idx + 1) < s
    return idx


def _grouped(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
    """The flat index map, the element order that groups it by table, and the tables used
    with their counts."""
    idx = scale_indices(scales.reshape(-1))
    order = np.argsort(idx, kind="stable")  # a radix sort for uint8
    counts = np.bincount(idx, minlength=LEVELS)
    used = np.flatnonzero(counts)
    return idx, order, used.tolist(), counts[used].tolist()


def encode_by_scale(symbols: np.ndarray, scales: np.ndarray, models: list,
                    offsets: np.ndarray) -> bytes:
    """Integer ``symbols`` coded with the tables of ``scales`` (same shape)."""
    idx, order, used, counts = _grouped(scales)
    sym = symbols.reshape(-1).astype(np.int64)[order]
    data = encode_groups(np.split(sym, np.cumsum(counts)[:-1]), used, models, offsets)
    return _U32.pack(zlib.crc32(idx.tobytes())) + data


def decode_by_scale(data: bytes, scales: np.ndarray, models: list,
                    offsets: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_by_scale`: int64 symbols of ``scales``' shape."""
    if len(data) < _U32.size:
        raise BitstreamError("damaged layer payload (too short for its index check)")
    idx, order, used, counts = _grouped(scales)
    if zlib.crc32(idx.tobytes()) != _U32.unpack_from(data)[0]:
        raise BitstreamError("the decoder's entropy-model indices differ from the "
                             "encoder's (other float arithmetic, or damaged data)")
    sym = np.empty(idx.shape, dtype=np.int64)
    sym[order] = decode_groups(data[_U32.size:], counts, used, models, offsets)
    return sym.reshape(scales.shape)


def encode_by_channel(symbols: np.ndarray, models: list, offsets: np.ndarray) -> bytes:
    """Integer ``symbols`` ``[C, H, W]`` coded a channel at a time, channel c with table c."""
    channels = list(range(symbols.shape[0]))
    return encode_groups([symbols[c].reshape(-1) for c in channels], channels, models, offsets)


def decode_by_channel(data: bytes, channels: int, size: tuple[int, int], models: list,
                      offsets: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_by_channel`: int64 symbols ``[channels, *size]``."""
    flat = decode_groups(data, [size[0] * size[1]] * channels, list(range(channels)), models,
                         offsets)
    return flat.reshape(channels, *size)


def join_parts(first: bytes, rest: bytes) -> bytes:
    """Two coded parts as one payload: ``len(first)`` (u32) | first | rest."""
    return _U32.pack(len(first)) + first + rest


def split_parts(data: bytes, what: str) -> tuple[bytes, bytes]:
    """Inverse of :func:`join_parts`; a length beyond the data is a :class:`BitstreamError`
    naming ``what`` the first part is."""
    if len(data) < _U32.size or _U32.unpack_from(data)[0] > len(data) - _U32.size:
        raise BitstreamError(f"damaged layer payload ({what} length)")
    end = _U32.size + _U32.unpack_from(data)[0]
    return data[_U32.size:end], data[end:]
