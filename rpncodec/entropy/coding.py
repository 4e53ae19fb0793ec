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
# The 64 table scales, log-spaced from SCALE_MIN to SCALE_MAX: exp(linspace(log 0.11, log 64,
# 64)). Written as exact float64 constants because every decoder must compare with the same
# bits: np.exp's last bit depends on the maths library, and a scale one ulp off moves values
# at a table boundary (tests check these against the formula to within 2 ulp).
_SCALES_HEX = (
    "0x1.c28f5c28f5c2ap-4", "0x1.f2780fb7492c2p-4", "0x1.13bc727545601p-3", "0x1.310e43c5a8913p-3",
    "0x1.517e311334418p-3", "0x1.756117b6e6e95p-3", "0x1.9d14db23cd4cdp-3", "0x1.c9015a8a5453bp-3",
    "0x1.f999809a1ec93p-3", "0x1.17ae3814ae625p-2", "0x1.356b686a1e305p-2", "0x1.56521f7d579e6p-2",
    "0x1.7ab8716fa473ap-2", "0x1.a2fd99882ce10p-2", "0x1.cf8af35ad60dep-2", "0x1.006a8736a59bep-1",
    "0x1.1bae6f95ad6bep-1", "0x1.39d8882440056p-1", "0x1.5b37bc00a34c2p-1", "0x1.80235a8689b81p-1",
    "0x1.a8fbfbbc58ec6p-1", "0x1.d62c7d0a73380p-1", "0x1.04158c68d84b2p+0", "0x1.1fbd4dde40d0bp+0",
    "0x1.3e55dd79ff39bp+0", "0x1.602f475c1826bp+0", "0x1.85a21a9d0c051p+0", "0x1.af1050ffa300bp+0",
    "0x1.dce64f45aed48p+0", "0x1.07ce0063322b4p+1", "0x1.23db08961ef70p+1", "0x1.42e3a3c79e438p+1",
    "0x1.6539033bd2486p+1", "0x1.8b34fa5af22dfp+1", "0x1.b53ae9b392c6ep+1", "0x1.e3b8c2fa1dd7dp+1",
    "0x1.0b941456d8db8p+2", "0x1.2807d6297bc1cp+2", "0x1.47821742c1bf5p+2", "0x1.6a55323c6d578p+2",
    "0x1.90dc4372152e5p+2", "0x1.bb7c17600cc96p+2", "0x1.eaa4325afef0cp+2", "0x1.0f67fa2917487p+3",
    "0x1.2c43edcbd8226p+3", "0x1.4c3174fd8c853p+3", "0x1.6f8417ee75412p+3", "0x1.969840a22e8a3p+3",
    "0x1.c1d42cb7886dfp+3", "0x1.f1a8f8e5e3255p+3", "0x1.1349e475f1635p+4", "0x1.308f877adbf3ap+4",
    "0x1.50f1fae9c71fap+4", "0x1.74c5f8d9e38cep+4", "0x1.9c693dbcb49d8p+4", "0x1.c8437d9b555fap+4",
    "0x1.f8c77367677e3p+4", "0x1.173a0692c1471p+5", "0x1.34eadc013a477p+5", "0x1.55c3e7dc12cf1p+5",
    "0x1.7a1b1a81a977dp+5", "0x1.a24f87a8c5128p+5", "0x1.ceca5f1ff097dp+5", "0x1.ffffffffffffdp+5",
)
SCALES = np.array([float.fromhex(h) for h in _SCALES_HEX])
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
