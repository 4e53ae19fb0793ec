"""Image <-> .rpn bytes: tiling, padding, layer coding, cropping, and which model decodes a file.

Tiling: the image is cut into independent square tiles (``bitstream.tile_grid``; the side is
in the header, default 1024, a multiple of 64), each coded on its own, so the network's memory
is bounded by the tile and not by the image. Tiles are independent rather than overlapping
because the global-context blocks pool over the whole latent: an overlapped strip could not
reproduce the untiled result anyway, and independent tiles keep decoding exact and simple. An
image that fits one tile is one tile and codes exactly as without tiling. Decoding fills a
preallocated uint8 image tile by tile; a tile decoded at a lower resolution (a spatial model's
lower layers) is placed at its position scaled by (decoded tile size / coded tile size).

Padding: each tile's sides are extended to the model's ``pad_multiple`` (16, the transforms'
total stride, in quality mode; 64 in spatial mode) by *replicating* the edge pixels.
Replication adds no new edges, so the padded area costs few bits (zero padding would create a
strong step at the border), and it is cropped on decode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cache
from pathlib import Path

import numpy as np

from . import bitstream, colour_corrections, exact_colours, residual_layers
from .backend import Coder, open_model
from .errors import BitstreamError, ModelError, in_layer
from .limits import check_pixels
from .registry import REGISTRY, safe_name

DEFAULT_TILE = bitstream.DEFAULT_TILE


def pad(image: np.ndarray, multiple: int) -> np.ndarray:
    """Replicate-pad a uint8 ``[H, W, 3]`` image at the bottom and right so both sides are
    multiples of ``multiple`` (the same pixels as padding the float image)."""
    h, w = image.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge") if ph or pw else image


@dataclass
class Decoded:
    """A decoded layer and what the file held."""

    image: np.ndarray
    layers: int  # layers used
    declared: int  # layers the header declares
    container: bitstream.Container


def encode(image: np.ndarray, loaded: Coder, tile: int = DEFAULT_TILE, refine: int = 0,
           exact: bool = True, residual: bool = True, extra: Sequence[int] = ()) -> bytes:
    """Encode a uint8 RGB image into one .rpn file holding all of the model's layers.

    The image is coded in independent ``tile`` x ``tile`` tiles (a multiple of 64; an image
    that fits one tile is one tile). ``refine`` > 0 searches each tile's latents for that many
    steps (:mod:`rpncodec.models.refine`, torch backend): slower, smaller and better files for
    the same decoder. ``exact`` lets the encoder add exact colours where they lower some
    layer's error (:func:`add_exact_colours`), ``residual`` residual layers where they beat
    the learned ones (:func:`add_residual_layers`). ``extra``: the steps of residual layers
    to add above the top one (:func:`add_extra_layers`; 1 is lossless).
    """
    h, w = image.shape[:2]
    problem = bitstream.size_problem(h, w)
    if problem:
        raise ModelError(f"cannot encode {problem}")
    problem = bitstream.tile_problem(tile)
    if problem:
        raise ModelError(f"cannot encode with {problem}")
    per_layer: list[list[bytes]] = []
    for top, left, th, tw in bitstream.tile_grid(h, w, tile):
        strings = loaded.encode_tile(pad(image[top : top + th, left : left + tw],
                                         loaded.pad_multiple), refine)
        per_layer = per_layer or [[] for _ in strings]
        for layer, string in zip(per_layer, strings, strict=True):
            layer.append(string)
    header = bitstream.Header(mode=loaded.config.mode, model=loaded.name, digest=loaded.digest,
                              height=h, width=w, layers=len(per_layer), tile=tile,
                              shifts=loaded.config.layer_shifts[: len(per_layer)])
    data = bitstream.pack(header, [bitstream.join_tiles(layer) for layer in per_layer])
    if exact:
        data = add_exact_colours(data, image, loaded)
    if residual:
        data = add_residual_layers(data, image, loaded)
    return add_extra_layers(data, image, loaded, extra)


def add_exact_colours(data: bytes, image: np.ndarray, loaded: Coder) -> bytes:
    """``data`` with exact colours (:mod:`rpncodec.exact_colours`, format version 4) when
    ``image`` has a palette and snapping pays at every layer (:func:`exact_colours.pays`),
    and then colour corrections where they pay (:func:`add_corrections`, version 5); else
    ``data`` unchanged. Costs one decode of every layer, only for images with a palette.
    Files with smaller layers (the spatial modes) keep version 3: those layers would pay the
    palette's bytes, and their pyramid colours are not the image's; files with residual
    layers are left as they are (the tools go in this order: :func:`encode`)."""
    container = bitstream.parse(data)
    header = container.header
    if any(header.shifts) or header.steps:
        return data
    palette = exact_colours.find_palette(image)
    if not len(palette):
        return data
    grid = bitstream.tile_grid(header.height, header.width, header.tile)
    regions = [(top, top + th, left, left + tw) for top, left, th, tw in grid]
    radii, gains, shown = [], [], []
    for k in range(1, header.layers + 1):
        decoded = decode(data, k, loaded).image
        r1, r2, change = exact_colours.choose_radii(image, decoded, palette, regions)
        error = float(np.sum((image.astype(np.float64) - decoded) ** 2))
        gains.append(10 * np.log10(error / max(error + change, 1e-3)) if error else 0.0)
        radii.append((r1, r2))
        for t, b, x0, x1 in regions:
            decoded[t:b, x0:x1] = exact_colours.snap(decoded[t:b, x0:x1], palette, r1, r2)
        shown.append(decoded)
    with_colours = replace(header, palette=palette.tobytes(), radii=tuple(radii)).to_bytes()
    side = len(with_colours) - container.byte_ranges[0][0]
    if not exact_colours.pays(gains, [end for _, end in container.byte_ranges], side):
        return data
    return add_corrections(with_colours + data[container.byte_ranges[0][0]:], image, shown,
                           regions)


def add_corrections(data: bytes, image: np.ndarray, shown: list[np.ndarray],
                    regions: list[tuple[int, int, int, int]]) -> bytes:
    """A version-4 file ``data`` of ``image`` with colour corrections in the layers where they
    pay (:func:`colour_corrections.choose_layers`; version 5), else unchanged. ``shown``:
    each layer's pixels as its decoder shows them; ``regions``: the tiles."""
    container = bitstream.parse(data)
    header = container.header
    palette = np.frombuffer(header.palette, np.uint8).reshape(-1, 3)
    ends = [end for _, end in container.byte_ranges]
    strings, gains, sides = [], [], []
    for pixels, end in zip(shown, ends, strict=True):
        error = float(np.sum((image.astype(np.float64) - pixels) ** 2))
        slope = colour_corrections.slope(error, end)
        chosen = [colour_corrections.choose(image[t:b, x0:x1], pixels[t:b, x0:x1], palette,
                                            slope) for t, b, x0, x1 in regions]
        removed = sum(r for _, r in chosen)
        gains.append(10 * np.log10(error / max(error - removed, 1e-3)) if removed else 0.0)
        sides.append(sum(len(c) + bitstream.U32.size for c, _ in chosen))
        strings.append([c for c, _ in chosen])
    keep = colour_corrections.choose_layers(gains, sides, ends)
    if not any(keep):
        return data
    payloads = [bitstream.join_tiles([bitstream.join_correction(t, c) for t, c in zip(
                    bitstream.split_tiles(chunk, len(regions)), layer, strict=True)])
                if k else chunk for chunk, layer, k in zip(container.chunks, strings, keep,
                                                          strict=True)]
    corrected = sum(1 << i for i, k in enumerate(keep) if k)
    return bitstream.pack(replace(header, corrected=corrected), payloads)


def add_residual_layers(data: bytes, image: np.ndarray, loaded: Coder) -> bytes:
    """``data`` with its top learned layers replaced by residual layers
    (:mod:`rpncodec.residual_layers`, format version 6) where every replaced layer shows a
    higher PSNR at no more bytes (:func:`residual_layers.choose`), else unchanged. Quality
    layers only (a residual layer has the size of the layer below it)."""
    container = bitstream.parse(data)
    header = container.header
    if any(header.shifts) or header.layers < 2:
        return data
    grid = bitstream.tile_grid(header.height, header.width, header.tile)
    shown = cache(lambda k: decode(data, k, loaded).image)
    growth = header.layers + 1  # the tools byte and the steps
    ends = [end + growth for _, end in container.byte_ranges]
    overhead = bitstream.CHUNK_OVERHEAD + bitstream.U32.size * (len(grid) - 1)
    base, steps, strings = residual_layers.choose(
        image, shown, ends, lambda previous, step: _residual_tiles(image, previous, step, grid),
        overhead)
    if not steps:
        return data
    new = replace(header, steps=(0,) * base + tuple(steps),
                  corrected=header.corrected & ((1 << base) - 1),
                  radii=header.radii[:base] + ((0, 0),) * len(steps) if header.radii else ())
    return bitstream.pack(new, container.chunks[:base]
                          + [bitstream.join_tiles(layer) for layer in strings])


def add_extra_layers(data: bytes, image: np.ndarray, loaded: Coder,
                     steps: Sequence[int]) -> bytes:
    """``data`` with residual layers of ``steps`` (1-255) added above its top layer, each
    refining the one below: every pixel of a layer of step *s* is within *s* // 2 of
    ``image``, and step 1 is lossless (no steps: ``data`` as it is). The top layer must be
    full size."""
    if not steps:
        return data
    container = bitstream.parse(data)
    header = container.header
    if header.shifts[-1]:
        raise ModelError("extra layers refine a full-size top layer; this file's is smaller")
    if header.layers + len(steps) > bitstream.MAX_LAYERS or not all(
            1 <= s <= residual_layers.MAX_STEP for s in steps):
        raise ModelError(f"extra layers need steps of 1 to {residual_layers.MAX_STEP}, at most "
                         f"{bitstream.MAX_LAYERS} layers in all, not {list(steps)}")
    grid = bitstream.tile_grid(header.height, header.width, header.tile)
    shown = decode(data, None, loaded).image
    payloads = list(container.chunks)
    for step in steps:
        strings, shown = _residual_tiles(image, shown, step, grid)
        payloads.append(bitstream.join_tiles(strings))
    n = len(steps)
    new = replace(header, layers=header.layers + n, shifts=header.shifts + (0,) * n,
                  radii=header.radii + ((0, 0),) * n if header.radii else (),
                  steps=(header.steps or (0,) * header.layers) + tuple(steps))
    return bitstream.pack(new, payloads)


def _residual_tiles(image: np.ndarray, previous: np.ndarray, step: int,
                    grid: list[tuple[int, int, int, int]]) -> tuple[list[bytes], np.ndarray]:
    """Every tile's residual string at ``step`` for ``image`` over the ``previous`` layer's
    pixels, and the pixels they decode to."""
    out, strings = np.empty_like(previous), []
    for top, left, th, tw in grid:
        region = (slice(top, top + th), slice(left, left + tw))
        string, out[region] = residual_layers.encode(image[region], previous[region], step)
        strings.append(string)
    return strings, out


def tile_parts(header: bitstream.Header, strings: list[bytes]
               ) -> tuple[list[bytes], bytes, list[bytes]]:
    """One tile's strings of the first ``len(strings)`` layers as the learned parts of the
    learned layers among them, the colour-correction string of the last of those (``b""``
    when it has none), and the strings of the residual layers after it."""
    learned, correction = [], b""
    top = min(len(strings), header.learned)
    for k, string in enumerate(strings[:top], 1):
        if header.is_corrected(k):
            with in_layer(k):
                string, tail = bitstream.split_correction(string)
            if k == top:  # a lower layer's corrections are its own
                correction = tail
        learned.append(string)
    return learned, correction, list(strings[top:])


def finish_tile(header: bitstream.Header, layers: int, pixels: np.ndarray,
                correction: bytes = b"", residuals: list[bytes] | tuple = ()) -> np.ndarray:
    """A tile's pixels as layer ``layers`` shows them, from the last learned layer's decoded
    pixels (cropped to the tile's place): snapped to the file's exact colours with that
    layer's radii, if the file has them, with its colour ``correction`` string applied, then
    refined by each ``residuals`` string in turn (:func:`tile_parts`). A correction string
    that does not decode is skipped."""
    top = layers - len(residuals)
    shown = pixels
    if header.palette:
        palette = np.frombuffer(header.palette, np.uint8).reshape(-1, 3)
        shown = exact_colours.snap(pixels, palette, *header.radii[top - 1])
        try:
            shown = colour_corrections.correct(shown, palette, correction)
        except BitstreamError:
            # Its contexts come from the snapped pixels, which a decoder whose learned layer
            # is a level off somewhere (another backend or CPU) may snap otherwise: the tile
            # is then shown without its corrections (docs/format.md, colour corrections).
            pass
    for k, string in enumerate(residuals, top + 1):
        with in_layer(k):
            shown = residual_layers.decode(shown, header.steps[k - 1], string)
    return shown


def model_for(header: bitstream.Header, model: str | Coder | None = None,
              device: str | None = None, backend: str | None = None) -> Coder:
    """The model that decodes a file (``model`` if given, else the one its header names,
    loaded on ``backend`` and ``device``: :func:`rpncodec.backend.open_model`), checked
    against the weights digest, mode and layer count the header records."""
    if model is None and header.model not in REGISTRY:
        raise ModelError(f"file was encoded with model {header.model!r}, which rpncodec does not "
                         "ship; give its weights file with --model FILE")
    if isinstance(model, str) and model not in REGISTRY and Path(model).is_file():
        # a weights file's identity is known before loading it (or exporting it for onnx)
        _check_digest(header, safe_name(Path(model).stem),
                      hashlib.sha256(Path(model).read_bytes()).digest()[:8])
    loaded = (open_model(model or header.model, backend, device)
              if model is None or isinstance(model, str) else model)
    _check_digest(header, loaded.name, loaded.digest)
    if loaded.config.mode != header.mode or header.learned > loaded.config.layers:
        raise ModelError(f"file declares a {header.mode} stream of {header.learned} learned "
                         f"layers, which {loaded.name} ({loaded.config.mode}, "
                         f"{loaded.config.layers} layers) cannot decode")
    if header.shifts[: header.learned] != loaded.config.layer_shifts[: header.learned]:
        raise ModelError(f"file declares layer shifts {list(header.shifts)}, but "
                         f"{loaded.name}'s layers have {list(loaded.config.layer_shifts)}")
    return loaded


def _check_digest(header: bitstream.Header, name: str, digest: bytes) -> None:
    if digest != header.digest:
        raise ModelError(f"file was encoded with {header.model} weights {header.digest.hex()}, "
                         f"but {name} has {digest.hex()}; decode with those weights")


@contextmanager
def _tile_damage(header: bitstream.Header, index: int, tiles: int) -> Iterator[None]:
    """Say which layer (and tile, of several) a payload error inside was raised in."""
    try:
        yield
    except BitstreamError as exc:
        if exc.layer is None:
            raise
        where = f"tile {index + 1} of {tiles}: " if tiles > 1 else ""
        raise BitstreamError(bitstream.damaged_message(exc.layer, header.layers,
                                                       f"{where}{exc}")) from None


def _scaled(size: int, scale: Fraction) -> int:
    """``ceil(size * scale)``: the decoded extent of ``size`` coded pixels."""
    return -(-size * scale.numerator // scale.denominator)


def decode(data: bytes, layers: int | None = None, model: str | Coder | None = None,
           device: str | None = None, backend: str | None = None,
           max_pixels: int | None = None) -> Decoded:
    """Decode the first ``layers`` layers (default: every complete layer) of a .rpn file.

    Tiles are decoded one at a time into one preallocated uint8 image, allocated after the
    first tile decodes (so a damaged first tile costs no image-sized allocation). ``device``
    and ``backend`` are where a model named by ``model`` or the header runs
    (:func:`rpncodec.backend.open_model`). The size the header declares is checked against
    ``max_pixels`` first (:func:`rpncodec.limits.check_pixels`; None: the default
    :data:`rpncodec.limits.MAX_IMAGE_PIXELS`, 0: no limit), before any model is loaded.
    """
    container = bitstream.parse(data)
    header = container.header
    check_pixels(header.width, header.height, max_pixels, what="file")
    chunks = bitstream.select(container, layers)
    loaded = model_for(header, model, device, backend)
    multiple = loaded.pad_multiple
    grid = bitstream.tile_grid(header.height, header.width, header.tile)
    strings = [bitstream.split_tiles(chunk, len(grid)) for chunk in chunks]
    image: np.ndarray | None = None
    scale = Fraction(1)
    for i, (top, left, th, tw) in enumerate(grid):
        with _tile_damage(header, i, len(grid)):
            learned, correction, residuals = tile_parts(header, [layer[i] for layer in strings])
            x_hat = loaded.decode_tile(learned, th, tw)
        coded = (-(-th // multiple) * multiple, -(-tw // multiple) * multiple)
        tile_scale = Fraction(x_hat.shape[1], coded[1])
        if Fraction(x_hat.shape[0], coded[0]) != tile_scale:
            raise RuntimeError(f"model decoded a {coded[1]}x{coded[0]} tile to "
                               f"{x_hat.shape[1]}x{x_hat.shape[0]}: not one scale")
        if image is None:
            scale = tile_scale
            image = np.empty((_scaled(header.height, scale), _scaled(header.width, scale), 3),
                             dtype=np.uint8)
        elif tile_scale != scale:
            raise RuntimeError(f"tile {i + 1} decoded at scale {tile_scale}, tile 1 at {scale}")
        y0, x0 = _scaled(top, scale), _scaled(left, scale)
        y1, x1 = _scaled(top + th, scale), _scaled(left + tw, scale)
        with _tile_damage(header, i, len(grid)):
            image[y0:y1, x0:x1] = finish_tile(header, len(chunks), x_hat[: y1 - y0, : x1 - x0],
                                              correction, residuals)
    assert image is not None  # the grid has at least one tile
    return Decoded(image, len(chunks), header.layers, container)
