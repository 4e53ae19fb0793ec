"""Which layer and which tiles of a file one image request needs (pure geometry, no I/O).

A ``.rpn`` file is cut into independent tiles (``bitstream.tile_grid``), and layer k is the
image at scale 1/2^shift (its header's layer shift). A request for a region at an output size
is served from the smallest resolution whose crop of the region is at least the output size
(so a IIIF tile at scale factor 4 decodes layer 1 of a spatial file's tiles it overlaps,
nothing more), and among the layers of that resolution:

- **one layer** (spatial files, single-layer files): that layer;
- **several** (quality files, a spatial-quality file's full resolution): the number of layers
  follows the output scale (output pixels per pixel of that resolution) by
  :func:`quality_layers`: all of them at or above ``full_scale`` (default 1/2), one fewer for
  each further halving (a thumbnail at 1/8 of the image is drawn from layer 1 of a four-layer
  quality file), never fewer than one. A ``full_scale`` of 0 always decodes every layer.

Only the tiles whose decoded extent overlaps the region's crop are decoded. The crop is in the
chosen layer's pixels; tile ``i`` of the grid covers ``[ceil(top*s), ceil((top+h)*s))`` there,
as in :func:`rpncodec.codec.decode`, so the tiles compose to the same pixels that
``rpncodec decode`` writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from .. import bitstream

DEFAULT_QUALITY_FULL_SCALE = 0.5


@dataclass(frozen=True)
class TilePiece:
    """Tile ``index`` of the grid (coded ``height`` x ``width`` at ``top``, ``left``), which
    covers ``rows`` x ``cols`` pixels at ``(y, x)`` of the crop, in the chosen layer."""

    index: int
    top: int
    left: int
    height: int
    width: int
    y: int
    x: int
    rows: int
    cols: int


@dataclass(frozen=True)
class Plan:
    """Decode ``layers`` layers of ``tiles``, crop ``crop`` (x0, y0, x1, y1 in that layer's
    pixels), then resize to ``size``."""

    layers: int
    scale: Fraction
    crop: tuple[int, int, int, int]
    tiles: tuple[TilePiece, ...]
    size: tuple[int, int]

    @property
    def crop_pixels(self) -> int:
        x0, y0, x1, y1 = self.crop
        return (x1 - x0) * (y1 - y0)


def _ceil(value: int, scale: Fraction) -> int:
    return -(-value * scale.numerator // scale.denominator)


def _floor(value: int, scale: Fraction) -> int:
    return value * scale.numerator // scale.denominator


def quality_layers(scale: float, layers: int, full_scale: float) -> int:
    """Layers of a quality file to decode for an output at ``scale`` (output pixels per image
    pixel): all of them at ``scale >= full_scale``, one fewer per halving below it, at least 1."""
    if full_scale <= 0 or scale >= full_scale:
        return layers
    drop = math.ceil(math.log2(full_scale / scale) - 1e-9)
    return max(1, layers - drop)


def layer_scale(header: bitstream.Header, k: int) -> Fraction:
    """Scale of layer ``k`` against the full image: 1/2 to the power of its shift."""
    return Fraction(1, 2 ** header.shifts[k - 1])


def _crop(region: tuple[int, int, int, int], scale: Fraction) -> tuple[int, int, int, int]:
    x, y, w, h = region
    return _floor(x, scale), _floor(y, scale), _ceil(x + w, scale), _ceil(y + h, scale)


def choose_layers(header: bitstream.Header, available: int, region: tuple[int, int, int, int],
                  size: tuple[int, int], full_scale: float) -> int:
    """The layer count a request for ``region`` at ``size`` decodes (see the module doc)."""
    shifts = header.shifts
    for shift in sorted(set(shifts[:available]), reverse=True):  # smallest resolution first
        x0, y0, x1, y1 = _crop(region, Fraction(1, 2**shift))
        if x1 - x0 >= size[0] and y1 - y0 >= size[1]:
            break
    same = [k for k, s in enumerate(shifts, 1) if s == shift]
    scale = max(size[0] / region[2], size[1] / region[3]) * 2**shift  # per layer pixel
    return min(available, same[0] - 1 + quality_layers(scale, len(same), full_scale))


def plan(header: bitstream.Header, available: int, region: tuple[int, int, int, int],
         size: tuple[int, int], full_scale: float = DEFAULT_QUALITY_FULL_SCALE) -> Plan:
    """The layers, crop and tiles that serve ``region`` (x, y, w, h of the full image) at
    ``size`` from a file whose first ``available`` layers decode."""
    k = choose_layers(header, available, region, size, full_scale)
    scale = layer_scale(header, k)
    x0, y0, x1, y1 = _crop(region, scale)
    t, (rx, ry, rw, rh) = header.tile, region
    columns = -(-header.width // t)
    rows = range(max(0, ry // t - 1), min(-(-header.height // t), (ry + rh) // t + 2))
    cols = range(max(0, rx // t - 1), min(columns, (rx + rw) // t + 2))
    pieces = []
    for row in rows:  # the region's tiles and their neighbours, tested in the layer's pixels
        for col in cols:
            top, left = row * t, col * t
            th, tw = min(t, header.height - top), min(t, header.width - left)
            ty0, tx0 = _ceil(top, scale), _ceil(left, scale)
            ty1, tx1 = _ceil(top + th, scale), _ceil(left + tw, scale)
            if tx0 < x1 and tx1 > x0 and ty0 < y1 and ty1 > y0:
                pieces.append(TilePiece(row * columns + col, top, left, th, tw, ty0 - y0,
                                        tx0 - x0, ty1 - ty0, tx1 - tx0))
    return Plan(k, scale, (x0, y0, x1, y1), tuple(pieces), size)
