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

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from . import bitstream
from .errors import ModelError
from .models import ScalableModel
from .tensors import to_image, to_tensor
from .zoo import REGISTRY, LoadedModel, load_model

DEFAULT_TILE = bitstream.DEFAULT_TILE


def pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad the bottom and right so both sides are multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


@dataclass
class Decoded:
    """A decoded layer and what the file held."""

    image: np.ndarray
    layers: int  # layers used
    declared: int  # layers the header declares
    container: bitstream.Container


def compress_tile(loaded: LoadedModel, x: Tensor) -> list[bytes]:
    """One byte string per layer for one padded tile ``[1, 3, H, W]``.

    The one place the codec calls a model's ``compress``; the tile goes to the model's device,
    and the model skips its reconstruction (an encoder has no use for it).
    """
    with torch.inference_mode():
        return loaded.model.compress(x.to(loaded.device), reconstruct=False)[0]


def decompress_tile(net: ScalableModel, strings: list[bytes], height: int, width: int) -> Tensor:
    """Decode one tile of ``height`` x ``width`` pixels (before padding) from its first
    ``len(strings)`` layer strings; returns the model's float output (padded, maybe scaled)."""
    with torch.inference_mode():
        return net.decompress(strings, net.latent_size(height, width), len(strings))


def encode(image: np.ndarray, loaded: LoadedModel, tile: int = DEFAULT_TILE) -> bytes:
    """Encode a uint8 RGB image into one .rpn file holding all of the model's layers.

    The image is coded in independent ``tile`` x ``tile`` tiles (a multiple of 64; an image
    that fits one tile is one tile).
    """
    h, w = image.shape[:2]
    problem = bitstream.size_problem(h, w)
    if problem:
        raise ModelError(f"cannot encode {problem}")
    problem = bitstream.tile_problem(tile)
    if problem:
        raise ModelError(f"cannot encode with {problem}")
    multiple = loaded.model.pad_multiple
    per_layer: list[list[bytes]] = []
    for top, left, th, tw in bitstream.tile_grid(h, w, tile):
        x = pad(to_tensor(image[top : top + th, left : left + tw]), multiple)
        strings = compress_tile(loaded, x)
        per_layer = per_layer or [[] for _ in strings]
        for layer, string in zip(per_layer, strings, strict=True):
            layer.append(string)
    header = bitstream.Header(mode=loaded.config.mode, model=loaded.name, digest=loaded.digest,
                              height=h, width=w, layers=len(per_layer), tile=tile)
    return bitstream.pack(header, [bitstream.join_tiles(layer) for layer in per_layer])


def model_for(header: bitstream.Header, model: str | LoadedModel | None = None,
              device: str | None = None) -> LoadedModel:
    """The model that decodes a file (``model`` if given, else the one its header names,
    loaded onto ``device``), checked against the weights digest, mode and layer count the
    header records."""
    if model is None and header.model not in REGISTRY:
        raise ModelError(f"file was encoded with model {header.model!r}, which rpncodec does not "
                         "ship; give its weights file with --model FILE")
    loaded = model if isinstance(model, LoadedModel) else load_model(model or header.model,
                                                                     device)
    if loaded.digest != header.digest:
        raise ModelError(f"file was encoded with {header.model} weights {header.digest.hex()}, "
                         f"but {loaded.name} has {loaded.digest.hex()}; decode with those weights")
    if loaded.config.mode != header.mode or header.layers > loaded.config.layers:
        raise ModelError(f"file declares a {header.mode} stream of {header.layers} layers, "
                         f"which {loaded.name} ({loaded.config.mode}, "
                         f"{loaded.config.layers} layers) cannot decode")
    return loaded


def _scaled(size: int, scale: Fraction) -> int:
    """``ceil(size * scale)``: the decoded extent of ``size`` coded pixels."""
    return -(-size * scale.numerator // scale.denominator)


def decode(data: bytes, layers: int | None = None,
           model: str | LoadedModel | None = None, device: str | None = None) -> Decoded:
    """Decode the first ``layers`` layers (default: every complete layer) of a .rpn file.

    Tiles are decoded one at a time into one preallocated uint8 image, allocated after the
    first tile decodes (so a damaged first tile costs no image-sized allocation). ``device``
    is where a model named by ``model`` or the header runs (``zoo.resolve_device``; a bit-exact
    decode is guaranteed only on the device type that encoded).
    """
    container = bitstream.parse(data)
    chunks = bitstream.select(container, layers)
    header = container.header
    loaded = model_for(header, model, device)
    net, multiple = loaded.model, loaded.model.pad_multiple
    grid = bitstream.tile_grid(header.height, header.width, header.tile)
    strings = [bitstream.split_tiles(chunk, len(grid)) for chunk in chunks]
    image: np.ndarray | None = None
    scale = Fraction(1)
    for i, (top, left, th, tw) in enumerate(grid):
        x_hat = decompress_tile(net, [layer[i] for layer in strings], th, tw)
        coded = (-(-th // multiple) * multiple, -(-tw // multiple) * multiple)
        tile_scale = Fraction(x_hat.shape[-1], coded[1])
        if Fraction(x_hat.shape[-2], coded[0]) != tile_scale:
            raise RuntimeError(f"model decoded a {coded[1]}x{coded[0]} tile to "
                               f"{x_hat.shape[-1]}x{x_hat.shape[-2]}: not one scale")
        if image is None:
            scale = tile_scale
            image = np.empty((_scaled(header.height, scale), _scaled(header.width, scale), 3),
                             dtype=np.uint8)
        elif tile_scale != scale:
            raise RuntimeError(f"tile {i + 1} decoded at scale {tile_scale}, tile 1 at {scale}")
        y0, x0 = _scaled(top, scale), _scaled(left, scale)
        y1, x1 = _scaled(top + th, scale), _scaled(left + tw, scale)
        image[y0:y1, x0:x1] = to_image(x_hat[..., : y1 - y0, : x1 - x0])
    assert image is not None  # the grid has at least one tile
    return Decoded(image, len(chunks), header.layers, container)
