"""Colour corrections: the pixels a layer shows in the wrong exact colour, set right.

After snapping (:mod:`rpncodec.exact_colours`), a flat-colour image decodes almost exactly,
but a few pixels at edges take the neighbouring colour instead of their own; they hold most of
the remaining error. A layer of a version-5 file may carry, per tile, a *correction string*
that names such pixels and their true palette colour. Each pixel of the tile gets one symbol:
0 (keep), 1-8 (the first, ..., eighth distinct palette colour among its 8 neighbours, in the
order of :data:`NEIGHBOURS`, leaving out its own colour) or 9 + i (palette colour i). Symbols
are ANS-coded with static per-context tables that the string carries; the context of a pixel
is what the decoder already sees: whether it shows a palette colour, and how many neighbours
show another colour. Everything is computed from the tile's snapped pixels before any
correction, so the whole tile decodes at once.

Corrections belong to their layer only (a later layer does not inherit them): a decoder of
layer k then needs no image of the layers below it. The encoder (:func:`choose`) names a pixel
only when the squared error it removes beats its bits at the layer's rate-distortion slope,
and :func:`choose_layers` keeps a layer's corrections only where no layer loses at the same
bytes. Format: docs/format.md, "Colour corrections (version 5)".
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import product

import numpy as np

from .entropy import ans
from .errors import BitstreamError
from .exact_colours import pack

NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
RANKS = len(NEIGHBOURS)
ESCAPE = RANKS + 1  # table entry (and first symbol) of a palette index: symbol ESCAPE + index
ENTRIES = ESCAPE + 1  # entries of a context's table: keep, 8 ranks, the escape
CONTEXTS = 6  # 3 x (shows a palette colour) + edge class of the neighbour count
TABLE = struct.Struct(f">{ENTRIES}H")
# The rate-distortion slope the corrections must beat, in dB of PSNR per doubling of a layer's
# bytes: steeper than high-rate theory's 6.02, as layered JPEG 2000 is on screen content at
# these rates (chosen on the train part: scripts/correction_slope_probe.py)
DB_PER_DOUBLING = 12.0
_ROUNDS = 6  # rounds of the encoder's choose-then-recount iteration
_FREQ_SUM = 1 << ans.PRECISION


def palette_index(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Per pixel of ``[h, w, 3]``: the lowest index of an equal palette colour, -1 if none."""
    return _lookup(pack(pixels), palette)


def contexts(shown: np.ndarray, palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of a tile's shown ``[h, w, 3]`` pixels: its context (0-5) and its palette
    index (:func:`palette_index`), both ``[h, w]``."""
    h, w = shown.shape[:2]
    packed = pack(shown)
    pidx = _lookup(packed, palette)
    padded = np.pad(packed, 1, constant_values=-1)
    differ = np.zeros((h, w), np.int64)
    for dy, dx in NEIGHBOURS:
        other = padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        differ += (other >= 0) & (other != packed)
    edge = np.where(differ == 0, 0, np.where(differ <= 3, 1, 2))
    return 3 * (pidx >= 0) + edge, pidx


def neighbour_colours(pidx: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The rank lists of pixels ``(ys, xs)``: ``[n, 8]`` palette indices, -1 after the end."""
    h, w = pidx.shape
    n = len(ys)
    lists = np.full((n, RANKS), -1, np.int64)
    length = np.zeros(n, np.int64)
    own = pidx[ys, xs]
    rows = np.arange(n)
    for dy, dx in NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        c = np.where(inside, pidx[np.clip(ny, 0, h - 1), np.clip(nx, 0, w - 1)], -1)
        new = (c >= 0) & (c != own) & ~(lists == c[:, None]).any(1)
        lists[rows[new], length[new]] = c[new]
        length += new
    return lists


def correct(shown: np.ndarray, palette: np.ndarray, string: bytes) -> np.ndarray:
    """A tile's shown pixels with its correction ``string`` applied (``shown`` itself when
    the string is empty); a string that does not decode raises :class:`BitstreamError`."""
    if not string:
        return shown
    present, models, words = _read_tables(string)
    ctx, pidx = contexts(shown, palette)
    positions = [np.flatnonzero(ctx.ravel() == c) for c in present]
    sym = ans.decode_groups(words, [len(p) for p in positions], list(range(len(present))),
                            models, np.zeros(len(present), np.int64))
    pos = np.concatenate(positions)
    named = sym != 0  # a negative escaped value names nothing, and is refused below
    pos, sym = pos[named], sym[named]
    index = sym - ESCAPE
    ranked = (sym > 0) & (sym < ESCAPE)
    if ranked.any():
        ys, xs = np.divmod(pos[ranked], shown.shape[1])
        index[ranked] = neighbour_colours(pidx, ys, xs)[np.arange(len(ys)), sym[ranked] - 1]
    if len(index) and (index.min() < 0 or index.max() >= len(palette)):
        raise BitstreamError("damaged layer payload (a colour correction names no colour)")
    out = shown.reshape(-1, 3).copy()
    out[pos] = palette[index]
    return out.reshape(shown.shape)


def slope(error: float, layer_bytes: int) -> float:
    """The squared error per bit a correction must remove in a layer of ``layer_bytes`` bytes
    and squared error ``error``: where :data:`DB_PER_DOUBLING` buys a doubling, the error falls
    as ``bytes ** (-DB_PER_DOUBLING / 3.01)``, so a bit is worth that power times error / bits."""
    return DB_PER_DOUBLING / (10 * np.log10(2)) * error / (8 * layer_bytes)


def choose(reference: np.ndarray, shown: np.ndarray, palette: np.ndarray,
           error_per_bit: float) -> tuple[bytes, float]:
    """The encoder's correction string for one tile and the squared error it removes: the
    pixels whose true colour is in the palette and whose removed squared error beats their
    bits times ``error_per_bit`` (squared error per bit, :func:`slope`). ``b""`` and 0 when none
    pays."""
    ctx, pidx = contexts(shown, palette)
    truth = palette_index(reference, palette)
    ys, xs = np.nonzero((truth >= 0) & (pack(reference) != pack(shown)))
    if not len(ys):
        return b"", 0.0
    gain = ((reference[ys, xs].astype(np.int64) - shown[ys, xs]) ** 2).sum(1)
    lists = neighbour_colours(pidx, ys, xs)
    hit = lists == truth[ys, xs][:, None]
    wanted = np.where(hit.any(1), hit.argmax(1) + 1, ESCAPE + truth[ys, xs])
    cand_ctx = ctx[ys, xs]
    sizes = np.bincount(ctx.ravel(), minlength=CONTEXTS)
    use = np.ones(len(ys), bool)
    for _ in range(_ROUNDS):
        bits = np.zeros(len(ys))
        for c in range(CONTEXTS):
            m = cand_ctx == c
            if m.any():
                p = _probabilities(wanted[m & use], sizes[c])
                bits[m] = _bits(wanted[m], p)
        use = gain > error_per_bit * bits
    # a context pays its table and its keep symbols too
    symbols = np.zeros(ctx.shape, np.int64)
    symbols[ys[use], xs[use]] = wanted[use]
    freqs, present = [], []
    for c in range(CONTEXTS):
        m = use & (cand_ctx == c)
        if not m.any():
            continue
        freq = ans.quantize_pmf(_probabilities(wanted[m], sizes[c]))
        cost = 8 * TABLE.size + _bits(symbols[ctx == c], freq / _FREQ_SUM).sum()
        if gain[m].sum() > error_per_bit * cost:
            present.append(c)
            freqs.append(freq)
        else:
            use &= cand_ctx != c
    if not present:
        return b"", 0.0
    flat = symbols.ravel()
    groups = [flat[ctx.ravel() == c] for c in present]
    words = ans.encode_groups(groups, list(range(len(present))),
                              ans.table_models(np.array(freqs)), np.zeros(len(present), np.int64))
    mask = sum(1 << c for c in present)
    string = bytes([mask]) + b"".join(TABLE.pack(*f) for f in freqs) + words
    return string, float(gain[use].sum())


def choose_layers(gains_db: Sequence[float], side_bytes: Sequence[int],
                  layer_bytes: Sequence[int]) -> tuple[bool, ...]:
    """Which layers keep their corrections: layer k gains ``gains_db[k]`` for
    ``side_bytes[k]`` more bytes, and every layer's bytes (``layer_bytes``: where each ends
    without corrections) also hold all earlier corrections. The best total of each layer's
    gain less what its added bytes would buy it at :data:`DB_PER_DOUBLING`, with no layer
    losing (only the header's mask bytes, which say which layers are corrected, are not
    counted); all False when no choice gains."""
    n = len(gains_db)
    choices = product((False, True), repeat=n) if n <= 6 else \
        [(False,) * n, (False,) * (n - 1) + (True,)]
    best, best_total = (False,) * n, 0.0
    for keep in choices:
        added, nets = 0, []
        for g, side, end, k in zip(gains_db, side_bytes, layer_bytes, keep, strict=True):
            added += side if k else 0
            nets.append((g if k else 0.0) - DB_PER_DOUBLING * np.log2(1 + added / end))
        if min(nets) >= 0 and sum(nets) > best_total:
            best, best_total = keep, sum(nets)
    return best


def _read_tables(string: bytes) -> tuple[list[int], list[tuple[object, int]], bytes]:
    """A correction string's contexts, their coding models and its ANS words."""
    mask = string[0]
    present = [c for c in range(CONTEXTS) if mask >> c & 1]
    end = 1 + TABLE.size * len(present)
    if not present or mask >> CONTEXTS or len(string) < end:
        raise BitstreamError("damaged layer payload (a colour-correction string's tables)")
    freqs = np.array([TABLE.unpack_from(string, 1 + TABLE.size * i)
                      for i in range(len(present))], np.int64)
    if (freqs < 1).any() or (freqs.sum(1) != _FREQ_SUM).any():
        raise BitstreamError("damaged layer payload (a colour-correction table does not "
                             f"sum to {_FREQ_SUM} with every entry at least 1)")
    return present, ans.table_models(freqs), string[end:]


def _probabilities(named: np.ndarray, size: int) -> np.ndarray:
    """A context's table masses from the symbols it names (the rest of its ``size``
    pixels keep): ranks counted, palette indices pooled into the escape entry."""
    counts = np.bincount(np.minimum(named, ESCAPE), minlength=ENTRIES).astype(np.float64)
    counts[0] = max(size - len(named), 0)
    return counts + 0.5


def _bits(symbols: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Each symbol's code length under masses ``p`` (an escape adds its 4-bit groups)."""
    p = p / p.sum()
    entry = np.minimum(symbols, ESCAPE)
    extra = np.where(symbols >= ESCAPE, 4 * (1 + _nibbles(2 * symbols)), 0)
    return -np.log2(p[entry]) + extra


def _nibbles(values: np.ndarray) -> np.ndarray:
    return 1 + (values >= 16) + (values >= 256) + (values >= 4096)


def _lookup(packed: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """:func:`palette_index` of already packed pixels."""
    keys = pack(palette)
    order = np.argsort(keys, kind="stable")
    at = np.clip(np.searchsorted(keys[order], packed), 0, len(keys) - 1)
    return np.where(keys[order][at] == packed, order[at], -1)
