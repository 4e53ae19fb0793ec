"""Exact colours: snap decoded pixels back to the image's dominant colours.

Text, screenshots, charts, slides and drawings are mostly a few exact colours (a white page,
black letters, a chart's flat fills). The learned layers decode them close but not exact: a
faint texture on flat areas, a slight colour shift, ringing at edges, and PSNR is dominated by
those small errors spread over many pixels. The encoder lists the colours that each cover at
least :data:`MIN_SHARE` of the image (at most :data:`MAX_COLOURS`) and, per layer, two radii
chosen to minimise that layer's squared error; the decoder then

1. replaces each decoded pixel within ``r1`` (largest channel difference) of a palette colour
   by the nearest such colour (ties: the earlier palette entry), and
2. replaces each remaining pixel by the palette colour that a pass-1 pixel up to
   :data:`WINDOW` pixels away took, the Euclidean-nearest of those (ties: the first in
   row-major order of the offsets), if it lies within ``r2``: a blurred or ringing edge between
   two flat colours takes one of them, and a colour the neighbourhood lacks is never chosen.

Both passes run on each tile's decoded pixels alone (neighbours outside the tile do not
exist), so tiles stay independent. A radius of 0 turns its pass off. The file carries the
palette and the radii (format version 4, docs/format.md); a file without them is version 3
and decodes exactly as before, which is what the encoder writes unless the tool pays at every
layer (:func:`pays`): photographs almost always stay version 3. The pixels snapping leaves in
the wrong palette colour can then be named by :mod:`rpncodec.colour_corrections` (version 5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

MIN_SHARE = 0.002  # a palette colour covers at least this share of the pixels
MAX_COLOURS = 256
WINDOW = 3  # pass 2 looks this many pixels away in each direction
NEVER = 256  # distance key of a pixel that no one-byte radius reaches
R1_GRID = (8, 16, 32)  # pass-1 radii the encoder tries with pass 2 (besides pass 1's best)
MIN_GAIN_DB = 0.05  # the encoder keeps the tool only if some layer gains this much...
DB_PER_DOUBLING = 6.02  # ...and each layer gains more than the side bytes would buy it
_CHUNK = 8192  # colours compared with the palette at once


def find_palette(image: np.ndarray) -> np.ndarray:
    """The exact colours of a uint8 ``[H, W, 3]`` image that each cover at least
    :data:`MIN_SHARE` of its pixels, most frequent first (equal counts: lower RGB value
    first), at most :data:`MAX_COLOURS`: a ``(K, 3)`` uint8 array, K possibly 0."""
    values, counts = np.unique(pack(image), return_counts=True)
    keep = counts >= max(1.0, MIN_SHARE * counts.sum())
    order = np.argsort(-counts[keep], kind="stable")[:MAX_COLOURS]
    return _unpack(values[keep][order])


def snap(pixels: np.ndarray, palette: np.ndarray, r1: int, r2: int) -> np.ndarray:
    """What a decoder shows for one tile's decoded uint8 ``[h, w, 3]`` pixels given the
    file's palette and the layer's radii (a new array; ``pixels`` itself when r1 is 0)."""
    if not r1 or not len(palette):
        return pixels
    idx, key = nearest(pixels, palette)
    first = key <= r1
    out = np.where(first[..., None], palette[idx], pixels).reshape(-1, 3)
    if r2:
        pos, cand, key2 = second_pass(pixels, palette, idx, first)
        take = key2 <= r2
        out[pos[take]] = palette[cand[take]]
    return out.reshape(pixels.shape)


def nearest(pixels: np.ndarray, palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of ``[h, w, 3]``: the index of the nearest palette colour by the largest
    channel difference (ties: the lower index) and that difference, both ``[h, w]``."""
    values, inverse = np.unique(pack(pixels), return_inverse=True)
    colours = _unpack(values)
    # per channel, |value - palette colour| for every value 0-255: one gather per channel
    tables = [np.abs(np.arange(256, dtype=np.int16)[:, None] - palette[:, ch].astype(np.int16))
              .astype(np.uint8) for ch in range(3)]
    idx = np.empty(len(colours), np.int64)
    dist = np.empty(len(colours), np.int64)
    for start in range(0, len(colours), _CHUNK):
        part = colours[start:start + _CHUNK]
        d = np.maximum(np.maximum(tables[0][part[:, 0]], tables[1][part[:, 1]]),
                       tables[2][part[:, 2]])
        best = d.argmin(1)  # argmin keeps the first of equal values
        idx[start:start + _CHUNK] = best
        dist[start:start + _CHUNK] = np.take_along_axis(d, best[:, None], 1)[:, 0]
    shape = pixels.shape[:2]
    return idx[inverse].reshape(shape), dist[inverse].reshape(shape)


def second_pass(pixels: np.ndarray, palette: np.ndarray, idx: np.ndarray, first: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 2's candidates: for each pixel outside ``first`` with a ``first`` pixel in its
    window, its flat position, the palette index that pass 2 would give it and the distance
    key of that colour (the smallest radius reaching it: ``ceil(sqrt(squared distance))``)."""
    w = idx.shape[1]
    ys, xs = np.nonzero(~first & _near(first))
    colour = pixels[ys, xs].astype(np.int64)
    best = np.full(len(ys), np.iinfo(np.int64).max)
    best_idx = np.zeros(len(ys), np.int64)
    # flat indices into arrays padded by WINDOW (the padding is never a pass-1 pixel)
    stride = w + 2 * WINDOW
    padded_first = np.pad(first, WINDOW).ravel()
    padded_idx = np.pad(idx, WINDOW).ravel()
    at = (ys + WINDOW) * stride + xs + WINDOW
    palette64 = palette.astype(np.int64)
    for dy in range(-WINDOW, WINDOW + 1):
        for dx in range(-WINDOW, WINDOW + 1):
            if not dy and not dx:
                continue
            there = at + dy * stride + dx
            cand = padded_idx[there]
            e = ((colour - palette64[cand]) ** 2).sum(1)
            better = padded_first[there] & (e < best)
            best[better], best_idx[better] = e[better], cand[better]
    return ys * w + xs, best_idx, _root_key(best)


def choose_radii(reference: np.ndarray, decoded: np.ndarray, palette: np.ndarray,
                 regions: Sequence[tuple[int, int, int, int]]) -> tuple[int, int, float]:
    """The encoder's choice for one layer: the radii ``(r1, r2)`` minimising the squared
    error against ``reference`` of ``decoded`` snapped tile by tile (``regions``: each tile's
    ``(top, bottom, left, right)`` in the layer's pixels), and that squared error's change
    (``(0, 0, 0.0)`` when snapping cannot lower it)."""
    tiles = [_TileState(reference[t:b, x0:x1], decoded[t:b, x0:x1], palette)
             for t, b, x0, x1 in regions]
    pass1 = _cumulative(tiles, lambda s: (s.delta, s.key))
    best_a = int(np.argmin(pass1))
    best = (0, 0, 0.0)
    for r1 in sorted({best_a, *R1_GRID} - {0}):
        pass2 = _cumulative(tiles, lambda s, r1=r1: s.second(r1))
        r2 = int(np.argmin(pass2))
        total = float(pass1[r1] + pass2[r2])
        if total < best[2]:
            best = (r1, r2, total)
    return best


def pays(gains_db: Sequence[float], layer_bytes: Sequence[int], side_bytes: int) -> bool:
    """Whether exact colours are worth their ``side_bytes`` to a file whose layers end at
    ``layer_bytes`` and gain ``gains_db``: some layer gains :data:`MIN_GAIN_DB`, and every
    layer gains more than the same bytes would buy it at :data:`DB_PER_DOUBLING` (the
    high-rate slope of a rate-distortion curve), so no layer is worse off at the same bytes."""
    return max(gains_db) >= MIN_GAIN_DB and all(
        g > DB_PER_DOUBLING * np.log2(1 + side_bytes / b)
        for g, b in zip(gains_db, layer_bytes, strict=True))


class _TileState:
    """One tile's pass-1 search and the squared-error change of snapping each pixel."""

    def __init__(self, reference: np.ndarray, decoded: np.ndarray, palette: np.ndarray) -> None:
        self.decoded, self.palette = decoded, palette
        self.reference = reference.astype(np.int64)
        self.idx, self.key = nearest(decoded, palette)
        before = ((self.reference - decoded) ** 2).sum(2)
        self.before = before.ravel()
        self.delta = ((self.reference - palette[self.idx]) ** 2).sum(2) - before

    def second(self, r1: int) -> tuple[np.ndarray, np.ndarray]:
        """Pass 2 after a pass 1 at ``r1``: each candidate's error change and key."""
        pos, cand, key2 = second_pass(self.decoded, self.palette, self.idx, self.key <= r1)
        after = ((self.reference.reshape(-1, 3)[pos] - self.palette[cand]) ** 2).sum(1)
        return after - self.before[pos], key2


def _cumulative(tiles: list[_TileState],
                part: Callable[[_TileState], tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Squared-error change of snapping at each radius 0..255, summed over the tiles."""
    change = np.zeros(NEVER + 1)
    for tile in tiles:
        delta, key = part(tile)
        change += np.bincount(key.ravel(), weights=delta.ravel(), minlength=NEVER + 1)
    return np.cumsum(change)[:NEVER]


def _near(first: np.ndarray) -> np.ndarray:
    """Pixels with a ``first`` pixel within the window (a box sum)."""
    n = 2 * WINDOW + 1
    box = np.pad(np.pad(first, WINDOW).astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return (box[n:, n:] - box[:-n, n:] - box[n:, :-n] + box[:-n, :-n]) > 0


def _root_key(e: np.ndarray) -> np.ndarray:
    """The smallest integer k with k * k >= e (at most :data:`NEVER`), exactly."""
    e = np.minimum(e, NEVER * NEVER)
    k = np.ceil(np.sqrt(e.astype(np.float64))).astype(np.int64)
    k = np.where((k - 1) * (k - 1) >= e, k - 1, k)
    return np.where(k * k < e, k + 1, k)


def pack(pixels: np.ndarray) -> np.ndarray:
    """Each RGB triple of a uint8 ``[..., 3]`` array as one integer ``0xRRGGBB``, shape
    ``[...]``."""
    p = pixels.astype(np.int32)
    return (p[..., 0] << 16) | (p[..., 1] << 8) | p[..., 2]


def _unpack(values: np.ndarray) -> np.ndarray:
    return np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], 1).astype(np.uint8)
