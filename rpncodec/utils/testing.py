"""Synthetic inputs shared by the tests, the fuzzer and the benchmarks (no data files needed)."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from .. import bitstream
from ..zoo import LoadedModel

TAIL_FIELDS = ("digest", "height", "width", "tile", "layers")  # bitstream.HEADER_TAIL's order


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A photo-like uint8 RGB test image: smooth gradients plus a little texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = [np.sin(xx / (7 + 5 * c) + c) * np.cos(yy / (9 + 3 * c)) for c in range(3)]
    img = np.stack(base, -1) * 90 + 128 + rng.normal(0, 6, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def zoom_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A large uint8 RGB test image with detail at every scale, for deep-zoom viewers: smooth
    colour ramps, a grid of rings whose spacing halves twice across the image, a little
    texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w * 200 + 30, yy / h * 180 + 40, 160 - xx / w * 80 - yy / h * 60], -1)
    for band, period in enumerate((256.0, 64.0, 16.0)):
        inside = (xx >= band * w / 3) & (xx < (band + 1) * w / 3)
        r = np.hypot((xx % period) - period / 2, (yy % period) - period / 2)
        ring = (np.abs(r - period / 4) < max(1.0, period / 32)) & inside
        img[ring] = (20, 20, 60)
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def golden_source() -> np.ndarray:
    """The golden files' input (``tests/test_golden.py``): rows 200-263 and columns 300-395 of
    the bundled sample, 96x64, coded in 64-pixel tiles so the tile table is pinned too."""
    from ..cli import SAMPLE
    from ..imageio import load_image

    return np.ascontiguousarray(load_image(SAMPLE)[200:264, 300:396])


def flat_source() -> np.ndarray:
    """The exact-colour golden file's input: 96x64 of flat saturated squares on white with a
    dark bar and a grey ramp, coded in 64-pixel tiles (two tiles: pass 2 stops at the seam)."""
    image = np.full((64, 96, 3), 255, np.uint8)
    colours = [(251, 40, 184), (20, 90, 200), (250, 200, 30), (30, 160, 70)]
    for i, colour in enumerate(colours):
        image[6:30, 4 + 22 * i : 22 + 22 * i] = colour
    image[36:42, 4:92] = (30, 30, 30)
    image[48:60, 4:92] = np.linspace(60, 240, 88).astype(np.uint8)[None, :, None]
    return image


def golden_tools(folder: str) -> dict[str, bool]:
    """The encoder's tools (``codec.encode``'s flags) a golden folder's files are written with:
    ``golden`` the learned layers alone, ``exact-colours`` exact colours and colour
    corrections, ``residual-layers`` every tool."""
    return {"exact": folder != "golden", "residual": folder == "residual-layers"}


def tiny_model(folder: str | Path, seed: int = 0, settle_steps: int = 200,
               mode: str = "quality") -> LoadedModel:
    """Export (to ``folder/tiny-<mode>.pt``) and load a randomly initialised tiny model."""
    import torch

    from ..models import build_model, preset
    from ..training.export import export
    from ..zoo import load_model

    torch.manual_seed(seed)
    path = Path(folder) / ("tiny-q.pt" if mode == "quality" else f"tiny-{mode}.pt")
    export(build_model(preset(mode, "tiny")), path, settle_steps=settle_steps)
    return load_model(str(path))


def with_header(data: bytes, *, version: int | None = None, crc: bool = True,
                shifts: bytes | None = None, **fields: int | bytes) -> bytes:
    """``data`` (a whole version-3 .rpn header at least) with header fields replaced,
    bypassing :class:`~rpncodec.bitstream.Header`'s validation, so tests can write hostile
    headers.

    ``fields`` are those of ``bitstream.HEADER_TAIL`` (:data:`TAIL_FIELDS`); ``version`` is the
    format version byte; ``shifts`` the layer shift bytes (default: the file's, cut or padded
    with its last to the layer count). The header CRC is recomputed unless ``crc`` is False.
    The layout comes from bitstream's structs, so it is written only there."""
    unknown = set(fields) - set(TAIL_FIELDS)
    if unknown:
        raise ValueError(f"not header tail fields: {sorted(unknown)}")
    buf = bytearray(data)
    magic, _, mode, name_len = bitstream.HEADER_FIXED.unpack_from(buf)
    if version is not None:
        bitstream.HEADER_FIXED.pack_into(buf, 0, magic, version, mode, name_len)
    at = bitstream.HEADER_FIXED.size + name_len
    end = at + bitstream.HEADER_TAIL.size
    values = dict(zip(TAIL_FIELDS, bitstream.HEADER_TAIL.unpack_from(buf, at), strict=True))
    old = bytes(buf[end : end + values["layers"]])
    values.update(fields)
    bitstream.HEADER_TAIL.pack_into(buf, at, *(values[f] for f in TAIL_FIELDS))
    if shifts is None:
        shifts = (old + old[-1:] * values["layers"])[: values["layers"]]
    buf[end : end + len(old)] = shifts
    end += len(shifts)
    if crc:
        bitstream.U32.pack_into(buf, end, zlib.crc32(buf[:end]))
    return bytes(buf)


def damage_layer(data: bytes, layer: int) -> bytes:
    """``data`` (an intact .rpn file) with one payload byte of ``layer`` (1-based) flipped, so
    that layer's CRC fails."""
    start, _ = bitstream.parse(data).byte_ranges[layer - 1]
    at = start + bitstream.CHUNK_OVERHEAD + 3
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
