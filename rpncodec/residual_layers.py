"""Residual layers: a layer that refines the layer below it in the pixel domain.

On text, user interfaces, charts and line art the learned layers gain about 6 dB per doubling
of their bytes, while the error left after the second or third learned layer sits in a few
pixels at edges, which a quantized residual codes cheaply (layered JPEG 2000 gains 10-14 dB
per doubling there). A version-6 file may therefore end with *residual layers*: layer k with
step ``s`` (1-255) shows ``clip(previous + s * q)``, where ``previous`` is the image layer
k - 1 shows and ``q`` one integer per pixel and channel. Step 1 is lossless.

Per tile, a residual string codes ``q`` in seven parts, each an ANS stream over static
per-context tables: the green plane in five (a lattice every 4 pixels, then the pixels
between, coarse to fine: :func:`green_parts`), then red minus green, then blue minus green.
The context of a symbol is how many symbols decoded before it nearby are not 0
(:func:`part_contexts`): never the pixels of ``previous``, which decoders on other machines
or backends may show one level apart, so every decoder reads the same symbols. Each
context's table has three parameters (a byte each, :func:`table`: the shares of 0 and of
+-1, and a geometric tail), built with integer arithmetic, so every decoder builds the same
tables.

The encoder (:func:`choose`) lets residual layers replace the learned layers above a base
layer only where every replaced layer shows a higher PSNR at no more bytes: the ladder of
rates stays the model's. Format: docs/format.md, "Residual layers (version 6)".
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from functools import cache
from itertools import accumulate, pairwise

import numpy as np

from .entropy import ans
from .errors import BitstreamError

NEIGHBOURS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
DIAGONAL = ((-1, -1), (-1, 1), (1, -1), (1, 1))
CROSS = ((-1, 0), (0, -1), (0, 1), (1, 0))
LATTICE = 4  # the green plane's first part: the pixels whose row and column are multiples of 4
PARTS = 7  # four more green parts (centres and sides at distance 2, then 1), R - G, B - G
PARAMS = struct.Struct(">BBB")  # a context's table (:func:`table`): z, a, t
MAX_STEP = 255
_FREQ_SUM = 1 << ans.PRECISION
# the steps the encoder tries, finest first
STEPS = (*range(1, 16), *range(16, 32, 2), *range(32, 64, 4), *range(64, 128, 8),
         *range(128, 256, 16), 255)


def largest(step: int) -> int:
    """The largest ``|q|`` of a residual at ``step``: residuals are at most 255."""
    return (255 + step // 2) // step


def quantize(residual: np.ndarray, step: int) -> np.ndarray:
    """The encoder's ``q`` for an integer ``residual``: the nearest multiple, ties away from 0."""
    return np.sign(residual) * ((np.abs(residual) + step // 2) // step)


def apply(previous: np.ndarray, q: np.ndarray, step: int) -> np.ndarray:
    """The pixels a residual layer shows: ``clip(previous + step * q, 0, 255)``."""
    return np.clip(previous.astype(np.int64) + step * q, 0, 255).astype(np.uint8)


def _shifted(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``a`` moved so that each position sees its neighbour at ``(dy, dx)`` (0 outside)."""
    h, w = a.shape
    k = max(abs(dy), abs(dx))
    padded = np.pad(a, k)
    return padded[k + dy:k + dy + h, k + dx:k + dx + w]


def green_parts(h: int, w: int) -> list[tuple[np.ndarray, tuple, int]]:
    """The green plane's five parts of an ``h`` x ``w`` tile, in decoding order: per part its
    flat row-major positions, the neighbours its contexts count and their distance. First the
    lattice (rows and columns multiples of 4); then, for d = 2 and d = 1, the centres (row and
    column = d modulo 2d: their 4 diagonal neighbours at distance d are decoded) and then the
    sides (one of row and column = d, the other 0, modulo 2d: their 4 neighbours above, left,
    right and below at distance d are)."""
    y, x = np.divmod(np.arange(h * w), w)
    parts = [(np.flatnonzero((y % LATTICE == 0) & (x % LATTICE == 0)), (), 0)]
    for d in (2, 1):
        ry, rx = y % (2 * d), x % (2 * d)
        parts.append((np.flatnonzero((ry == d) & (rx == d)), DIAGONAL, d))
        parts.append((np.flatnonzero((ry == 0) & (rx == d) | (ry == d) & (rx == 0)), CROSS, d))
    return parts


def part_contexts(green: np.ndarray, part: int, neighbours: tuple, distance: int,
                  red: np.ndarray | None = None) -> np.ndarray:
    """Per pixel of the tile: its context in ``part`` (0-6), from the green plane ``green``
    (``[h, w]``; in parts 1-4, complete where those parts' neighbours are) and, in part 6,
    the red-minus-green plane ``red``. Parts 0-4: 0 for the lattice, else ``1 + 5 * (part -
    1)`` plus how many of the ``neighbours`` at ``distance`` have a green symbol other than 0.
    Part 5: ``3 * h + min(|G|, 2)``, *h* 0-3 as 0, 1-2, 3-5 or 6-9 pixels of the 3x3 square
    around it have a green symbol other than 0; part 6: twice that, plus 1 if ``red`` is not 0
    there."""
    nonzero = (green != 0).astype(np.int64)
    if part == 0:
        return np.zeros_like(nonzero)
    if part < 5:
        return 1 + 5 * (part - 1) + sum(_shifted(nonzero, distance * dy, distance * dx)
                                        for dy, dx in neighbours)
    near = nonzero + sum(_shifted(nonzero, dy, dx) for dy, dx in NEIGHBOURS)
    ctx = 3 * np.searchsorted(np.asarray([1, 3, 6]), near, side="right") \
        + np.minimum(np.abs(green), 2)
    return ctx if part == 5 else 2 * ctx + (red != 0)


def _symbols(q: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """``q`` ``[h, w, 3]`` as the symbols of its seven parts, in decoding order: per part
    (contexts, symbols, 1 for the green parts or 2 for the others: the reach in units of
    the largest ``|q|``)."""
    h, w = q.shape[:2]
    green, red, blue = q[..., 1], q[..., 0] - q[..., 1], q[..., 2] - q[..., 1]
    out = []
    for part, (positions, neighbours, distance) in enumerate(green_parts(h, w)):
        ctx = part_contexts(green, part, neighbours, distance).ravel()[positions]
        out.append((ctx, green.ravel()[positions], 1))
    out.append((part_contexts(green, 5, (), 0).ravel(), red.ravel(), 2))
    out.append((part_contexts(green, 6, (), 0, red).ravel(), blue.ravel(), 2))
    return out


def estimate_bits(q: np.ndarray) -> float:
    """Ideal code length of ``q`` with an exact table per context (plus the parameters'
    bytes): what the encoder's search compares with a budget before coding for real."""
    bits = 0.0
    for ctx, sym, _ in _symbols(q):
        key = ctx.astype(np.int64) * 4096 + sym + 2048
        uniq, counts = np.unique(key, return_counts=True)
        contexts = uniq // 4096
        for c in np.unique(contexts):
            n = counts[contexts == c]
            bits += float(-(n * np.log2(n / n.sum())).sum()) + 8 * PARAMS.size
    return bits


def table(z: int, a: int, t: int, reach: int) -> np.ndarray:
    """The 16-bit frequencies of a context's table over symbols ``-reach..reach`` and an
    escape entry: symmetric, 0 about ``z * z / 16`` times as likely as all others together,
    +-1 about ``a * a / 16`` times as likely as all beyond, and beyond a geometric tail whose
    neighbouring entries have the ratio ``(t + 1) / 256``. The squares give fine steps where
    0 is almost certain, which most contexts are. Integer arithmetic only (so every decoder
    agrees; the largest intermediate value is below 2**64)."""
    tail = _tail(t, reach)
    total_tail = 2 * sum(tail)
    one = total_tail * a * a // 32 if tail else 1 << 12
    other = 2 * one + total_tail
    weights = [*tail[::-1], one, other * z * z // 16, one, *tail, 0]
    entries = len(weights)
    total = sum(weights)
    freq = [1 + w * (_FREQ_SUM - entries) // total for w in weights]
    freq[reach] += _FREQ_SUM - sum(freq)
    return np.asarray(freq, np.int64)


@cache
def _tail(t: int, reach: int) -> tuple[int, ...]:
    """The weights of +-2 .. +-reach in :func:`table` (shared by every ``z`` and ``a``)."""
    tail = [1 << 12]
    for _ in range(reach - 2):
        tail.append(tail[-1] * (t + 1) >> 8)
    return tuple(tail[: max(reach - 1, 0)])


def _fit(hist: np.ndarray, reach: int) -> tuple[int, int, int]:
    """The table parameters ``(z, a, t)`` that code the symbol histogram ``hist`` (over
    ``-reach..reach``) in the fewest bits: ``z`` and ``a`` from the counts of 0, +-1 and the
    rest, ``t`` on a coarse then a fine grid, then ``z`` and ``a`` nudged."""
    zeros = hist[reach]
    ones = hist[reach - 1] + hist[reach + 1]
    rest = hist.sum() - zeros - ones

    def root(count: float, others: float) -> int:
        return int(np.clip(round(np.sqrt(16 * count / others)), 0, 255)) if others else 255

    z, a = root(zeros, ones + rest), root(ones, rest)

    def cost(z: int, a: int, t: int) -> float:
        return float(-(hist * np.log2(table(z, a, t, reach)[:-1] / _FREQ_SUM)).sum())

    t = 128
    if reach > 2 and hist.sum() > hist[reach - 1: reach + 2].sum():
        t = min((cost(z, a, t), t) for t in range(3, 256, 8))[1]
        t = min((cost(z, a, u), u) for u in range(max(t - 4, 0), min(t + 5, 256)))[1]
    z = min((cost(v, a, t), v) for v in range(max(z - 2, 0), min(z + 3, 256)))[1]
    a = min((cost(z, v, t), v) for v in range(max(a - 2, 0), min(a + 3, 256)))[1]
    return z, a, t


def encode(reference: np.ndarray, previous: np.ndarray, step: int) -> tuple[bytes, np.ndarray]:
    """One tile's residual string at ``step`` for the uint8 ``reference`` pixels over the
    ``previous`` layer's, and the pixels it decodes to."""
    q = quantize(reference.astype(np.int64) - previous, step)
    parts = []
    for ctx, sym, units in _symbols(q):
        reach = units * largest(step)
        present = np.unique(ctx)
        params, groups = [], []
        for c in present:
            values = sym[ctx == c]
            fitted = _fit(np.bincount(values + reach, minlength=2 * reach + 1), reach)
            params.append(PARAMS.pack(*fitted))
            groups.append(values)
        words = ans.encode_groups(groups, list(range(len(groups))), _models(params, reach),
                                  np.full(len(groups), reach)) if groups else b""
        parts.append(b"".join(params) + words)
    return _join(parts), apply(previous, q, step)


def decode(previous: np.ndarray, step: int, string: bytes) -> np.ndarray:
    """The pixels a residual layer at ``step`` with the tile string ``string`` shows over the
    ``previous`` layer's pixels; a string that does not decode raises :class:`BitstreamError`.
    The symbols never depend on ``previous``: every decoder reads the same ``q``."""
    h, w = previous.shape[:2]
    parts = _split(string)
    m = largest(step)
    green = np.zeros((h, w), np.int64)
    for part, (positions, neighbours, distance) in enumerate(green_parts(h, w)):
        ctx = part_contexts(green, part, neighbours, distance).ravel()[positions]
        green.ravel()[positions] = _decode_part(parts[part], ctx, m)
    red = _decode_part(parts[5], part_contexts(green, 5, (), 0).ravel(), 2 * m).reshape(h, w)
    blue = _decode_part(parts[6], part_contexts(green, 6, (), 0, red).ravel(), 2 * m)
    q = np.stack([red + green, green, blue.reshape(h, w) + green], -1)
    if np.abs(q).max(initial=0) > m:
        raise BitstreamError("damaged layer payload (a residual is out of range)")
    return apply(previous, q, step)


def _models(params: list[bytes], reach: int) -> list[tuple[object, int]]:
    """The ANS models of a part's tables, from their parameter bytes."""
    return ans.table_models(np.stack([table(*PARAMS.unpack(p), reach) for p in params]))


def _decode_part(part: bytes, ctx: np.ndarray, reach: int) -> np.ndarray:
    """One part's symbols (the parameters of each present context, then the ANS words),
    given each symbol's context. A part without symbols must be empty; a part whose words
    are empty holds only its tables' first entry, -``reach`` (ANS codes those in no words)."""
    if not len(ctx):
        if part:
            raise BitstreamError("damaged layer payload (a residual part without symbols "
                                 "is not empty)")
        return np.zeros(0, np.int64)
    present = np.unique(ctx)
    size = PARAMS.size * len(present)
    if len(part) < size:
        raise BitstreamError("damaged layer payload (a residual part's tables do not fit)")
    if len(part) == size:
        return np.full(len(ctx), -reach, np.int64)
    params = [part[i:i + PARAMS.size] for i in range(0, size, PARAMS.size)]
    positions = [np.flatnonzero(ctx == c) for c in present]
    sym = ans.decode_groups(part[size:], [len(p) for p in positions],
                            list(range(len(present))), _models(params, reach),
                            np.full(len(present), reach), escapes=False)
    values = np.empty(len(ctx), np.int64)
    values[np.concatenate(positions)] = sym
    return values


def _join(parts: list[bytes]) -> bytes:
    """The seven parts as one string: the lengths of the first six (u32), then all."""
    return b"".join(struct.pack(">I", len(p)) for p in parts[:-1]) + b"".join(parts)


def _split(string: bytes) -> list[bytes]:
    """Inverse of :func:`_join`."""
    head = 4 * (PARTS - 1)
    if len(string) < head:
        raise BitstreamError("damaged layer payload (a residual string is too short)")
    lengths = struct.unpack_from(f">{PARTS - 1}I", string)
    if sum(lengths) > len(string) - head:
        raise BitstreamError("damaged layer payload (a residual string's parts do not fit)")
    ends = [head, *(head + e for e in accumulate(lengths))]
    return [string[a:b] for a, b in pairwise(ends)] + [string[ends[-1]:]]


def choose(reference: np.ndarray, shown: Callable[[int], np.ndarray], ends: Sequence[int],
           tiles: Callable[[np.ndarray, int], tuple[list[bytes], np.ndarray]],
           overhead: int) -> tuple[int, list[int], list[list[bytes]]]:
    """The encoder's residual layers for a file whose layer k shows ``shown(k)`` and ends at
    byte ``ends[k - 1]``: ``(base, steps, strings)``, the last learned layer (1-based; the
    layer count when none pays), one step per residual layer and their tile strings.
    ``shown`` is asked only for the layers a base needs (the top two first).

    ``tiles(previous, step)`` codes every tile of a residual layer: its strings and the image
    they decode to; ``overhead`` is a layer's bytes beyond its strings (the tile table). For
    each base, layer k's step is the finest whose strings fit the bytes learned layer k
    leaves (what the layers below it left unspent included); a base is kept when every layer
    above it shows a higher PSNR than the learned one, and the base with the largest sum of
    gains (dB) wins. Tried from the top base down; when the top one does not pay, none is
    tried further (lower bases replace more learned layers, and they lose there first).
    """
    ref = reference.astype(np.int64)
    layers = len(ends)
    errors = cache(lambda k: float(((ref - shown(k)) ** 2).sum()))
    best: tuple[float, int, list[int], list[list[bytes]]] = (0.0, layers, [], [])
    for base in range(layers - 1, 0, -1):
        previous, spent, gain = shown(base), ends[base - 1], 0.0
        steps, strings = [], []
        for k in range(base + 1, layers + 1):
            budget = ends[k - 1] - spent - overhead
            found = _fit_step(reference, previous, budget, tiles)
            if found is None:
                break
            step, coded, previous = found
            error = float(((ref - previous) ** 2).sum())
            if error >= errors(k):
                break
            gain += 10 * np.log10(errors(k) / max(error, 1e-3))
            spent += sum(len(s) for s in coded) + overhead
            steps.append(step)
            strings.append(coded)
        else:
            if gain > best[0]:
                best = (gain, base, steps, strings)
            continue
        if base == layers - 1:
            break
    return best[1], best[2], best[3]


def _fit_step(reference: np.ndarray, previous: np.ndarray, budget: int,
              tiles: Callable[[np.ndarray, int], tuple[list[bytes], np.ndarray]]
              ) -> tuple[int, list[bytes], np.ndarray] | None:
    """The finest step of :data:`STEPS` whose coded strings fit ``budget`` bytes, with them
    and the image they decode to (None if none fits): a binary search on the estimate
    (:func:`estimate_bits`), then coding for real, coarser until it fits."""
    if budget <= 0:
        return None
    residual = reference.astype(np.int64) - previous
    lo, hi = 0, len(STEPS) - 1
    if estimate_bits(quantize(residual, STEPS[hi])) > 8 * budget:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if estimate_bits(quantize(residual, STEPS[mid])) <= 8 * budget:
            hi = mid
        else:
            lo = mid + 1
    for step in STEPS[lo:]:
        coded, image = tiles(previous, step)
        if sum(len(s) for s in coded) <= budget:
            return step, coded, image
    return None
