"""The ``.rpn`` container: one file holding every layer of one encoded image.

Layout (format version 3, integers big-endian)::

    header: magic b"\\x89RPN" | version u8 | mode u8 | name length u8 | model name (ASCII)
            | weights digest (8 bytes) | height u32 | width u32 | tile side u32 | layers u8
            | one shift u8 per layer | [version 4 and 5: palette size - 1 u8 | the palette's
            RGB triples | two radii u8 per layer] | [version 5: corrected layers u16, bit k - 1
            for layer k] | [version 6: tools u8 (bit 0 exact colours, bit 1 colour
            corrections, bit 2 residual layers), then the fields of the tools it names in
            that order: the palette and radii, the corrected layers, one residual step u8 per
            layer (0: a learned layer)] | header CRC32 u32
    then per layer: payload length u32 | payload CRC32 u32 | payload
    payload of a layer: (n - 1) tile string lengths u32 | the n tile strings, in tile order
    tile string of a corrected layer (version 5): learned part's length u32 | learned part
            | colour-correction string (:mod:`rpncodec.colour_corrections`, possibly empty)
    tile string of a residual layer (version 6): its residual string
            (:mod:`rpncodec.residual_layers`)

Tiles: the image is cut into a row-major grid of ``tile`` x ``tile`` squares (the last row and
column are smaller), coded independently, so memory is bounded by the tile size whatever the
image size (:func:`tile_grid`). An image that fits one tile is one tile, and its layer payload is
just that tile's string. Each layer's chunk holds the strings of every tile, so decoding layer k
still needs only the first k chunks and any prefix of whole layers decodes.

Layers are ordered so that any prefix decodes; a file cut after layer k (or with layer k+1
damaged) still yields layers 1..k. :func:`parse` is therefore tolerant and reports how much is
usable, while :func:`select` applies the policy of what a request for k layers may use.
Each layer's shift says what it is: its image is the full size halved that many times
(rounding up), so a reader knows every layer's resolution without knowing the model: 2, 1, 0 in a
spatial file, 0 for every quality layer, 2, 1, 0, 0, 0 in a spatial-quality file.

Version 2 (no shift bytes: a spatial layer's resolution followed from the mode and the model's
level count) is still read. Version 1 (no tile field, never tiled) is not read any more.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, replace
from itertools import accumulate, pairwise

from rpncodec.errors import BitstreamError, RpncodecError, TruncatedError

MAGIC = b"\x89RPN"
FORMAT_VERSION = 3  # a file with exact colours is version 4 (EXACT_COLOURS_VERSION)
EXACT_COLOURS_VERSION = 4
CORRECTIONS_VERSION = 5  # exact colours and colour corrections in some layer
RESIDUAL_VERSION = 6  # residual layers, with any of the other tools (a tools byte says which)
READ_VERSIONS = (2, 3, 4, 5, 6)
TOOL_EXACT, TOOL_CORRECTIONS, TOOL_RESIDUAL = 1, 2, 4  # version 6's tools byte
# mode -> the header's mode byte (part of the format: never renumber)
MODE_BYTES = {"quality": 0, "spatial": 1, "single": 2, "spatial-quality": 3}
MODES = tuple(MODE_BYTES)
MAX_SIDE = 65536
# 16384x16384. Coding is tiled, so the network's memory does not grow with the size; what does
# is the decoded image itself (3 bytes per pixel, 768 MiB at this limit) and the time.
MAX_PIXELS = 2**28
TILE_MULTIPLE = 64  # spatial mode halves the image twice and its latent twice more
DEFAULT_TILE = 1024
MAX_TILE = 2048  # largest tile a decoder accepts: bounds the network's working memory
MAX_LAYERS = 16
MAX_SHIFT = 2  # a layer is at most a quarter of the full size (TILE_MULTIPLE = 16 << MAX_SHIFT)
MAX_PAYLOAD = 2**31
MAX_PALETTE = 256  # exact colours a version-4 header lists
CORRECTED = struct.Struct(">H")  # version 5: which layers' tile strings carry corrections
CHUNK_OVERHEAD = 8  # payload length u32 + payload CRC32 u32

_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The header and chunk layouts, written only here (the fuzzer and the tests use these structs).
HEADER_FIXED = struct.Struct(">4sBBB")  # magic, version, mode, name length
HEADER_TAIL = struct.Struct(">8sIIIB")  # digest, height, width, tile side, layers
U32 = struct.Struct(">I")
CHUNK = struct.Struct(">II")


def size_problem(height: int, width: int) -> str | None:
    """Say why a ``height`` x ``width`` image is refused, or return None if it is acceptable.

    Shared by the container and the image reader so both enforce the same limits, and both can
    refuse before allocating anything. The text reads after a verb: "declares <text>".
    """
    if height < 1 or width < 1:
        return f"an empty {width}x{height} image"
    if height > MAX_SIDE or width > MAX_SIDE or height * width > MAX_PIXELS:
        return (
            f"a {width}x{height} image, above the limit of {MAX_SIDE} pixels per side "
            f"and {MAX_PIXELS} pixels in total"
        )
    return None


def level_size(height: int, width: int, shift: int) -> tuple[int, int]:
    """Size of the spatial level ``shift`` halvings below ``height x width`` (ceiling division)."""
    return -(-height // 2**shift), -(-width // 2**shift)


def layer_size(header: Header, k: int) -> tuple[int, int]:
    """``(width, height)`` that layer ``k`` (1-based) of a file with ``header`` decodes to: the
    full size halved ``header.shifts[k - 1]`` times, rounding up."""
    lh, lw = level_size(header.height, header.width, header.shifts[k - 1])
    return lw, lh


def default_shifts(mode: str, layers: int, levels: int | None = None) -> tuple[int, ...]:
    """The layer shifts of a mode's first ``layers`` layers, for a model of ``levels`` levels
    (default ``layers``): what a version-2 file (no shift bytes) means, and what a header built
    without shifts records. Spatial levels halve from the top: n levels are n-1, ..., 0."""
    n = max(levels or layers, layers)
    if mode == "spatial":
        return tuple(n - 1 - k for k in range(layers))
    if mode == "spatial-quality":
        return tuple(max(2 - k, 0) for k in range(layers))
    return (0,) * layers


def shifts_problem(shifts: tuple[int, ...]) -> str | None:
    """Say why a header's layer shifts are impossible, or return None."""
    if any(not 0 <= s <= MAX_SHIFT for s in shifts):
        return f"layer shifts {list(shifts)} (each must be 0 to {MAX_SHIFT})"
    if any(a < b for a, b in pairwise(shifts)):
        return f"layer shifts {list(shifts)} (a layer cannot be smaller than the one before)"
    return None


def tile_problem(tile: int) -> str | None:
    """Say why ``tile`` is not an acceptable tile side, or return None."""
    if not TILE_MULTIPLE <= tile <= MAX_TILE or tile % TILE_MULTIPLE:
        return (f"a tile side of {tile} (must be a multiple of {TILE_MULTIPLE} from "
                f"{TILE_MULTIPLE} to {MAX_TILE})")
    return None


def tile_grid(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    """``(top, left, height, width)`` of every tile of a ``height`` x ``width`` image, row-major.

    Tiles are ``tile`` x ``tile`` except in the last row and column, which hold the remainder.
    """
    return [(top, left, min(tile, height - top), min(tile, width - left))
            for top in range(0, height, tile) for left in range(0, width, tile)]


def tile_count(height: int, width: int, tile: int) -> int:
    """Number of tiles of :func:`tile_grid` (without building it)."""
    return -(-height // tile) * -(-width // tile)


def join_tiles(strings: list[bytes]) -> bytes:
    """One layer payload from the strings of every tile: the lengths of all but the last, then
    the strings. One tile gives its string unchanged."""
    if not strings:
        raise ValueError("a layer needs at least one tile string")
    lengths = b"".join(U32.pack(len(s)) for s in strings[:-1])
    return lengths + b"".join(bytes(s) for s in strings)


def _tile_bounds(payload: bytes, tiles: int) -> tuple[list[int], list[int]]:
    """Start and end offsets of each tile string in a layer payload (see :func:`split_tiles`)."""
    table = 4 * (tiles - 1)
    if table > len(payload):
        raise BitstreamError(f"tile table of {tiles} tiles does not fit the layer payload "
                             f"of {len(payload)} bytes")
    lengths = struct.unpack_from(f">{tiles - 1}I", payload)
    ends = list(accumulate(lengths, initial=table))[1:]
    if ends and ends[-1] > len(payload):
        raise BitstreamError(f"tile lengths add up to {ends[-1] - table} bytes, more than "
                             f"the {len(payload) - table} the layer payload holds")
    return [table, *ends], [*ends, len(payload)]


def split_correction(string: bytes) -> tuple[bytes, bytes]:
    """A corrected layer's tile string as its learned part and its colour-correction string."""
    if len(string) < U32.size or U32.unpack_from(string)[0] > len(string) - U32.size:
        raise BitstreamError("damaged layer payload (a corrected tile string's learned part "
                             "does not fit it)")
    end = U32.size + U32.unpack_from(string)[0]
    return string[U32.size:end], string[end:]


def join_correction(learned: bytes, correction: bytes) -> bytes:
    """Inverse of :func:`split_correction`."""
    return U32.pack(len(learned)) + learned + correction


def split_tiles(payload: bytes, tiles: int) -> list[bytes]:
    """Inverse of :func:`join_tiles` for a payload of ``tiles`` tiles.

    Raises :class:`BitstreamError` when the lengths do not fit the payload (the table is read
    in one step after checking it fits, so a hostile tile count costs no loop before the check).
    """
    starts, stops = _tile_bounds(payload, tiles)
    return [payload[a:b] for a, b in zip(starts, stops, strict=True)]


def header_size(model: str, layers: int, colours: int = 0, corrections: bool = False,
                residual: bool = False) -> int:
    """Number of bytes of the header of a file of ``layers`` layers made with model ``model``
    (with a palette of ``colours`` exact colours: version 4; and ``corrections``: version 5;
    ``residual`` layers: version 6)."""
    extra = 1 + 3 * colours + 2 * layers + corrections * CORRECTED.size if colours else 0
    if residual:
        extra += 1 + layers
    return HEADER_FIXED.size + len(model.encode("ascii")) + HEADER_TAIL.size + layers + extra \
        + U32.size


@dataclass(frozen=True)
class Header:
    """What a decoder needs to know before reading any layer. Validated on construction."""

    mode: str
    model: str
    digest: bytes
    height: int
    width: int
    layers: int
    tile: int = DEFAULT_TILE  # tile side; an image no larger than this is one tile
    # each layer's resolution: halvings of the full size (default: the mode's, default_shifts)
    shifts: tuple[int, ...] = ()
    # exact colours (version 4, :mod:`rpncodec.exact_colours`): RGB triples, most frequent
    # first, and per layer its two snapping radii; empty in a version-3 file
    palette: bytes = b""
    radii: tuple[tuple[int, int], ...] = ()
    # colour corrections (version 5, :mod:`rpncodec.colour_corrections`): bit k - 1 set when
    # layer k's tile strings carry them; 0 in a version-3 or 4 file
    corrected: int = 0
    # residual layers (version 6, :mod:`rpncodec.residual_layers`): per layer its step, 0 for
    # a learned layer; the residual layers are the last ones. Empty: every layer is learned
    steps: tuple[int, ...] = ()

    @property
    def version(self) -> int:
        """The format version this header is written as: 6 with residual layers, 5 with
        colour corrections, 4 with exact colours alone, else 3."""
        if self.steps:
            return RESIDUAL_VERSION
        if self.corrected:
            return CORRECTIONS_VERSION
        return EXACT_COLOURS_VERSION if self.palette else FORMAT_VERSION

    def is_corrected(self, k: int) -> bool:
        """Whether layer ``k`` (1-based) carries colour corrections."""
        return bool(self.corrected >> (k - 1) & 1)

    @property
    def learned(self) -> int:
        """The number of learned layers: those before the first residual layer."""
        return next((k for k, s in enumerate(self.steps) if s), self.layers)

    @property
    def multi_resolution(self) -> bool:
        """Whether the layers come in more than one size (spatial, spatial-quality)."""
        return len(set(self.shifts)) > 1

    def last_layer_at(self, shift: int) -> int:
        """The last layer (1-based) of the size ``shift`` gives: with every quality layer
        of that resolution."""
        return max(k for k, s in enumerate(self.shifts, 1) if s == shift)

    @property
    def tiles(self) -> int:
        """Number of tiles of the image."""
        return tile_count(self.height, self.width, self.tile)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BitstreamError(
                f"unknown .rpn mode {self.mode!r} (expected one of {', '.join(MODES)})"
            )
        if not _NAME_RE.fullmatch(self.model):
            raise BitstreamError(f"invalid model name {self.model!r} in .rpn header")
        if len(self.digest) != 8:
            raise BitstreamError(f"weights digest must be 8 bytes, got {len(self.digest)}")
        problem = size_problem(self.height, self.width)
        if problem:
            raise BitstreamError(f".rpn header declares {problem}")
        if not 1 <= self.layers <= MAX_LAYERS:
            raise BitstreamError(
                f".rpn header declares {self.layers} layers (must be 1 to {MAX_LAYERS})"
            )
        problem = tile_problem(self.tile)
        if problem:
            raise BitstreamError(f".rpn header declares {problem}")
        shifts = tuple(self.shifts) or default_shifts(self.mode, self.layers)
        if len(shifts) != self.layers:
            raise BitstreamError(f".rpn header declares {self.layers} layers but "
                                 f"{len(shifts)} layer shifts")
        problem = shifts_problem(shifts)
        if problem:
            raise BitstreamError(f".rpn header declares {problem}")
        object.__setattr__(self, "shifts", shifts)
        if len(self.palette) % 3 or len(self.palette) > 3 * MAX_PALETTE:
            raise BitstreamError(f"an exact-colour palette holds 1 to {MAX_PALETTE} RGB "
                                 f"triples, not {len(self.palette)} bytes")
        radii = tuple(tuple(r) for r in self.radii)
        if len(radii) != (self.layers if self.palette else 0) or any(
                len(r) != 2 or not all(0 <= v <= 255 for v in r) for r in radii):
            raise BitstreamError(f"exact colours need two radii 0-255 per layer, not {radii}")
        object.__setattr__(self, "radii", radii)
        if self.corrected and (not self.palette or self.corrected >> self.layers):
            raise BitstreamError(f"colour corrections need exact colours and name layers 1 to "
                                 f"{self.layers}, not the mask {self.corrected:#x}")
        steps = tuple(self.steps)
        if not any(steps):
            steps = ()
        elif (len(steps) != self.layers or steps[0] or not all(0 <= s <= 255 for s in steps)
              or not all(steps[self.learned:])):
            raise BitstreamError(f"residual steps {list(steps)} (one per layer, 0 for each "
                                 f"learned layer, 1-255 for each residual layer after them)")
        elif len(set(self.shifts[self.learned - 1:])) > 1:
            raise BitstreamError("a residual layer must have the size of the layer below it")
        elif self.corrected >> self.learned:
            raise BitstreamError("colour corrections belong to learned layers only")
        object.__setattr__(self, "steps", steps)

    def to_bytes(self) -> bytes:
        """Serialize, including the trailing header CRC32."""
        name = self.model.encode("ascii")
        body = (
            HEADER_FIXED.pack(MAGIC, self.version, MODE_BYTES[self.mode], len(name))
            + name
            + HEADER_TAIL.pack(self.digest, self.height, self.width, self.tile, self.layers)
            + bytes(self.shifts)
        )
        if self.steps:
            body += bytes([TOOL_EXACT * bool(self.palette) + TOOL_CORRECTIONS
                           * bool(self.corrected) + TOOL_RESIDUAL])
        if self.palette:
            body += bytes([len(self.palette) // 3 - 1]) + self.palette \
                + bytes(v for r in self.radii for v in r)
        if self.corrected:
            body += CORRECTED.pack(self.corrected)
        if self.steps:
            body += bytes(self.steps)
        return body + U32.pack(zlib.crc32(body))


@dataclass(frozen=True)
class Container:
    """Result of :func:`parse`: the header and the intact prefix of the layer chunks."""

    header: Header
    chunks: list[bytes]
    available: int
    damaged: int | None
    truncated: bool
    byte_ranges: list[tuple[int, int]]
    damage: str | None = None  # why chunk `damaged` is bad: "CRC mismatch" or a bad length
    trailing: int = 0  # bytes after the last declared chunk (ignored)


def pack(header: Header, payloads: list[bytes]) -> bytes:
    """Build a complete ``.rpn`` file from a header and one payload per declared layer."""
    if len(payloads) != header.layers:
        raise ValueError(
            f"header declares {header.layers} layers but {len(payloads)} payloads given"
        )
    parts = [header.to_bytes()]
    for payload in payloads:
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"layer payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
        parts.append(CHUNK.pack(len(payload), zlib.crc32(payload)) + bytes(payload))
    return b"".join(parts)


def _parse_header(data: bytes) -> tuple[Header, int]:
    """Read and verify the header; return it with its size in bytes."""
    if not data:
        raise TruncatedError("file is empty (0 bytes), so it holds no .rpn header")
    if data[: len(MAGIC)] != MAGIC[: len(data)]:
        raise BitstreamError("not an .rpn file (wrong magic)")
    if len(data) > 4 and data[4] not in READ_VERSIONS:
        raise BitstreamError(
            f"unsupported .rpn format version {data[4]} "
            f"(this rpncodec reads versions {READ_VERSIONS[0]} to {READ_VERSIONS[-1]})"
        )
    if len(data) < HEADER_FIXED.size:
        raise TruncatedError(f"file is truncated inside its header (only {len(data)} bytes)")
    _, version, mode_byte, name_len = HEADER_FIXED.unpack_from(data)
    if not 1 <= name_len <= 64:
        raise BitstreamError(f"damaged .rpn header (model name length {name_len})")
    tail_at = HEADER_FIXED.size + name_len
    size = tail_at + HEADER_TAIL.size + U32.size
    shifts_at = tail_at + HEADER_TAIL.size
    if version >= 3:  # one shift byte per layer: the layer count comes first
        if len(data) < shifts_at:
            raise TruncatedError(f"file is truncated inside its header (only {len(data)} bytes)")
        size += data[shifts_at - 1]
    colours_at = size - U32.size
    tools = {4: TOOL_EXACT, 5: TOOL_EXACT | TOOL_CORRECTIONS}.get(version, 0)
    if version >= RESIDUAL_VERSION:  # the tools byte comes first
        if len(data) <= colours_at:
            raise TruncatedError(f"file is truncated inside its header (only {len(data)} bytes)")
        tools = data[colours_at]
        if tools >= 2 * TOOL_RESIDUAL or not tools & TOOL_RESIDUAL or (
                tools & TOOL_CORRECTIONS and not tools & TOOL_EXACT):
            raise BitstreamError(f"damaged .rpn header (tools byte {tools:#x})")
        size += 1
        colours_at += 1
    if tools & TOOL_EXACT:  # exact colours: their count comes first
        if len(data) <= colours_at:
            raise TruncatedError(f"file is truncated inside its header (only {len(data)} bytes)")
        size += 1 + 3 * (data[colours_at] + 1) + 2 * data[shifts_at - 1]
    if tools & TOOL_CORRECTIONS:
        size += CORRECTED.size
    if tools & TOOL_RESIDUAL:
        size += data[shifts_at - 1]
    if len(data) < size:
        raise TruncatedError(
            f"file is truncated inside its header (only {len(data)} of {size} bytes)"
        )
    (crc,) = U32.unpack_from(data, size - U32.size)
    if zlib.crc32(data[: size - U32.size]) != crc:
        raise BitstreamError("damaged .rpn header (CRC mismatch)")
    if mode_byte >= len(MODES):
        raise BitstreamError(f"unknown .rpn mode byte {mode_byte} (expected 0 to {len(MODES) - 1})")
    name = data[HEADER_FIXED.size : HEADER_FIXED.size + name_len]
    if not re.fullmatch(rb"[A-Za-z0-9._-]+", name):
        raise BitstreamError(
            "invalid model name in .rpn header (must be ASCII letters, digits, . _ -)"
        )
    digest, height, width, tile, layers = HEADER_TAIL.unpack_from(data, tail_at)
    mode, model = MODES[mode_byte], name.decode("ascii")
    palette, radii, corrected, steps = b"", (), 0, ()
    if version >= 3:
        shifts = tuple(data[shifts_at : shifts_at + layers])
    else:
        shifts = default_shifts(mode, layers, _registry_levels(model, mode))
    at = colours_at
    if tools & TOOL_EXACT:
        palette = data[at + 1 : at + 1 + 3 * (data[at] + 1)]
        at += 1 + len(palette)
        flat = data[at : at + 2 * layers]
        radii = tuple(zip(flat[::2], flat[1::2], strict=True))
        at += 2 * layers
    if tools & TOOL_CORRECTIONS:
        (corrected,) = CORRECTED.unpack_from(data, at)
        at += CORRECTED.size
    if tools & TOOL_RESIDUAL:
        steps = tuple(data[at : at + layers])
    header = Header(mode, model, digest, height, width, layers, tile, shifts, palette, radii,
                    corrected, steps)
    if version >= RESIDUAL_VERSION and tools & TOOL_CORRECTIONS and not corrected:
        raise BitstreamError("damaged .rpn header (its tools byte names colour corrections, "
                             "but no layer has them)")
    if header.version != version and version >= 3:
        what = "corrected layers" if version == CORRECTIONS_VERSION else "the tools it names in use"
        raise BitstreamError(f"damaged .rpn header (version {version} without {what})")
    return header, size


def _registry_levels(model: str, mode: str) -> int | None:
    """Levels of the shipped ``model`` of ``mode`` (None if it is not one): a version-2 spatial
    file cut by ``truncate`` declares fewer layers than its model has levels."""
    from .registry import REGISTRY

    entry = REGISTRY.get(model)
    return entry.layers if entry is not None and entry.mode == mode else None


def parse(data: bytes) -> Container:
    """Parse a (possibly cut or damaged) ``.rpn`` file.

    Header problems raise (:class:`TruncatedError` if the file ends inside the header,
    :class:`BitstreamError` otherwise). Chunk problems do not: parsing stops at the first chunk
    that is incomplete or damaged (CRC mismatch, impossible length, or a tile table that does
    not fit its payload) and the :class:`Container` says what happened.
    """
    data = bytes(data)
    header, pos = _parse_header(data)
    chunks: list[bytes] = []
    ranges: list[tuple[int, int]] = []
    damaged = damage = None
    truncated = False
    for index in range(1, header.layers + 1):
        if pos + CHUNK_OVERHEAD > len(data):
            truncated = True
            break
        length, crc = CHUNK.unpack_from(data, pos)
        if length > MAX_PAYLOAD:
            damaged, damage = index, f"impossible chunk length {length}"
            break
        end = pos + CHUNK_OVERHEAD + length
        if end > len(data):
            truncated = True
            break
        payload = data[pos + CHUNK_OVERHEAD : end]
        if zlib.crc32(payload) != crc:
            damaged, damage = index, "CRC mismatch"
            break
        try:
            _tile_bounds(payload, header.tiles)
        except BitstreamError as exc:
            damaged, damage = index, str(exc)
            break
        chunks.append(payload)
        ranges.append((pos, end))
        pos = end
    complete = len(chunks) == header.layers
    trailing = len(data) - pos if complete else 0
    return Container(header, chunks, len(chunks), damaged, truncated, ranges, damage, trailing)


def select(container: Container, layers: int | None) -> list[bytes]:
    """Return the chunks needed to decode ``layers`` layers (``None``: all declared layers).

    With ``None`` the intact prefix is returned even when it is shorter than declared (the
    caller should warn, using ``container.truncated``/``damaged``); an explicit count must be
    fully available, otherwise the error says which ``--layers`` value would work.
    """
    total = container.header.layers
    if layers is not None and not 1 <= layers <= total:
        if total == 1:
            raise RpncodecError(f"--layers must be 1 (this file has 1 layer, not {layers})")
        raise RpncodecError(
            f"--layers must be between 1 and {total} (this file has {total} layers, not {layers})"
        )
    wanted = total if layers is None else layers
    have = container.available
    if wanted <= have or (layers is None and have > 0):
        return container.chunks[:wanted]
    if container.damaged is not None:
        raise BitstreamError(damaged_message(container.damaged, total,
                                             container.damage or "CRC mismatch"))
    if have == 0:
        raise TruncatedError(f"file is truncated: none of its {total} layers is complete")
    raise TruncatedError(
        f"file is truncated: only {have} of {total} layers are complete (use --layers {have})"
    )


def damaged_message(layer: int, total: int, why: str) -> str:
    """The one-line error for a damaged ``layer`` of ``total``: what is wrong, and which
    ``--layers`` still decodes (the layers before it)."""
    have = layer - 1
    if have == 0:
        usable = "no layer can be decoded"
    elif have == 1:
        usable = "layer 1 decodes (use --layers 1)"
    else:
        usable = f"layers 1-{have} decode (use --layers {have})"
    return f"layer {layer} of {total} is damaged ({why}); {usable}"


def prefix_size(container: Container, layers: int) -> int:
    """Bytes a file needs to decode ``layers`` layers: header plus the first ``layers`` chunks.

    This is the rate of that operating point (bpp = 8 * bytes / pixels). Raises like
    :func:`select` if those layers are not available.
    """
    select(container, layers)
    return container.byte_ranges[layers - 1][1]


def truncate(data: bytes, layers: int) -> bytes:
    """Cut a file down to its first ``layers`` layers, as a valid file declaring that many.

    The chunks are copied byte for byte; only the header's layer count and shifts (and its
    CRC) change, a version-4, 5 or 6 file keeps the radii of the layers it keeps, its
    corrected-layers bits and its residual steps; the version is the lowest that holds
    what is left (4 when no corrected layer is, 5 or lower when no residual layer is). A
    version-2 file comes out as version 3.
    """
    container = parse(data)
    select(container, layers)
    start = container.byte_ranges[0][0]
    end = container.byte_ranges[layers - 1][1]
    old = container.header
    header = replace(old, layers=layers, shifts=old.shifts[:layers], radii=old.radii[:layers],
                     corrected=old.corrected & ((1 << layers) - 1), steps=old.steps[:layers])
    return header.to_bytes() + bytes(data[start:end])
