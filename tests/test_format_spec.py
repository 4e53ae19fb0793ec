"""docs/format.md is a specification: a reader written from it alone (struct, zlib and the
page's rules, no rpncodec parser and no constriction) must read what rpncodec writes and
refuse what it refuses, for the reasons the page gives. These tests are that reader: the header
and chunk checks in their documented order and with their documented errors, the tile table,
the ANS coder (fixed-point tables, state, refills, end rule) on factorized and by-scale strings
with escapes, the table-index rule, the errors of cut and damaged files, exact colours' two
snapping passes, colour corrections (version 5) and residual layers (version 6: the tools byte,
the residual strings' seven parts, their contexts and integer tables). So the page cannot drift
from the code.
Where the two disagree, a strict xfail test says how."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import math
import re
import struct
import zlib
from bisect import bisect_right
from pathlib import Path

import constriction
import numpy as np
import pytest
import torch

from rpncodec import bitstream, codec, colour_corrections, residual_layers
from rpncodec.backend import Coder, open_model
from rpncodec.entropy import ans, coding
from rpncodec.entropy.gaussian import GaussianConditional
from rpncodec.errors import BitstreamError, TruncatedError
from rpncodec.utils.testing import flat_source, smooth_image

PAGE = (Path(__file__).resolve().parents[1] / "docs" / "format.md").read_text()
FLAT = " ".join(PAGE.split())  # the page's text with its line breaks undone
MAGIC = b"\x89RPN"
TRUNCATED, REFUSED, DAMAGED = "truncated", "refused", "damaged"


class Refused(Exception):
    """The page's reader refuses a string."""


# --- the page's tables of checks ----------------------------------------------------------------

def page_checks(last_column: str) -> dict[int, tuple[str, list[re.Pattern]]]:
    """The rows of the page's table of checks whose last column is headed ``last_column``:
    check number -> (what a failure is, the patterns of its messages, in which placeholders
    such as ``L`` or ``WxH`` stand for numbers)."""
    head = f"| # | check | on failure | {last_column} |"
    assert head in PAGE, head
    rows = {}
    for line in PAGE.split(head, 1)[1].splitlines()[2:]:
        if not line.startswith("|"):
            break
        number, _, kind, messages = (cell.strip() for cell in line.strip("|").split("|", 3))
        rows[int(number)] = (kind, [_pattern(m) for m in re.findall(r"`([^`]+)`", messages)])
    return rows


def _pattern(template: str) -> re.Pattern:
    """``Z`` stands for a list of numbers, the other placeholders for one number (or WxH, or
    in hexadecimal: rpncodec writes the corrected-layers mask ``X`` of check 15 as ``0x..``)."""
    lists = [re.split(r"\b(?:32\+n\+L|32\+n|WxH|[VSnMLTXY])\b", t) for t in template.split("Z")]
    return re.compile(r"\[[\d, ]*\]".join(r"(?:0x[0-9a-f]+|\d+(?:x\d+)?)".join(
        map(re.escape, parts)) for parts in lists))


# --- the container, as the page lays it out -----------------------------------------------------

def header_problem(data: bytes) -> int | str | None:
    """The number of the first of the page's header checks that ``data`` fails, ``"tools"``
    for a version-6 tools byte refused inside check 6, or None."""
    size = len(data)
    n = data[6] if size > 6 else 0
    checks = [
        lambda: size >= 1,
        lambda: data[:4] == MAGIC[:size],
        lambda: size <= 4 or data[4] in (2, 3, 4, 5, 6),
        lambda: size >= 7,
        lambda: 1 <= n <= 64,
        lambda: header_present(data),
        lambda: struct.unpack(">I", data[header_length(data) - 4:header_length(data)])[0]
        == zlib.crc32(data[:header_length(data) - 4]),
        lambda: data[5] <= 3,
        lambda: re.fullmatch(rb"[A-Za-z0-9._-]+", data[7:7 + n]) is not None,
        lambda: image_size_ok(*fields(data)[1:3]),
        lambda: 1 <= fields(data)[4] <= 16,
        lambda: fields(data)[3] % 64 == 0 and 64 <= fields(data)[3] <= 2048,
        lambda: all(s <= 2 for s in shifts(data)),
        lambda: all(a >= b for a, b in itertools.pairwise(shifts(data))),
        lambda: data[4] != 5 or (corrected(data) and not corrected(data) >> fields(data)[4]),
        lambda: data[4] != 6 or residual_fields_ok(data),
    ]
    for number, ok in enumerate(checks, 1):
        if number == 6 and tools_refused(data):
            return "tools"
        if not ok():
            return number
    return None


def header_present(data: bytes) -> bool:
    """Check 6: the bytes that say how long the header is, then the whole header."""
    size, n, version = len(data), data[6], data[4]
    if version >= 3 and size < 28 + n:
        return False
    at = 28 + n + (data[27 + n] if version >= 3 else 0)  # the tools byte, or K - 1 (version 4-5)
    if version == 6:
        if size <= at:
            return False
        at += 1
    return (not tools(data) & 1 or size > at) and size >= header_length(data)


def tools(data: bytes) -> int:
    """The tools a header names: version 6's tools byte; exact colours (bit 0) in version 4,
    and colour corrections (bit 1) too in version 5."""
    return data[28 + data[6] + data[27 + data[6]]] if data[4] == 6 else \
        {4: 0b1, 5: 0b11}.get(data[4], 0)


def tools_refused(data: bytes) -> bool:
    """A version-6 tools byte, once present, that breaks the page's rules: bit 2 always set,
    no bit above it, bit 1 only with bit 0."""
    n = data[6] if len(data) > 6 else 0
    if len(data) < 28 + n or data[4] != 6 or len(data) <= 28 + n + data[27 + n]:
        return False
    t = tools(data)
    return t >> 3 != 0 or not t & 0b100 or (t & 0b10 != 0 and not t & 0b1)


def header_length(data: bytes) -> int:
    """32 + n, one shift byte per layer from version 3, 1 + 3K + 2L more with exact colours,
    the 2 bytes of the corrected-layers mask with colour corrections, and in version 6 the
    tools byte and one residual step per layer."""
    n = data[6]
    layers = data[27 + n] if data[4] >= 3 else 0
    at = 28 + n + layers + (data[4] == 6)  # K - 1
    colours = data[at] + 1 if tools(data) & 1 else 0
    return 32 + n + layers + (data[4] == 6) + (1 + 3 * colours + 2 * layers if colours else 0) \
        + (2 if tools(data) & 0b10 else 0) + (layers if tools(data) & 0b100 else 0)


def exact_colours(data: bytes) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """A header's palette and per-layer radii (empty lists without exact colours)."""
    if not tools(data) & 1:
        return [], []
    n, layers = data[6], data[27 + data[6]]
    at = 28 + n + layers + (data[4] == 6)
    raw = data[at + 1:at + 1 + 3 * (data[at] + 1)]
    radii = data[at + 1 + len(raw):at + 1 + len(raw) + 2 * layers]
    return ([tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)],
            [tuple(radii[i:i + 2]) for i in range(0, len(radii), 2)])


def corrected(data: bytes) -> int:
    """The corrected-layers mask (bit k - 1 for layer k): version 5's u16 just before the CRC,
    version 6's after the radii, before the steps; 0 without colour corrections."""
    if not tools(data) & 0b10:
        return 0
    end = header_length(data) - 4 - (fields(data)[4] if tools(data) & 0b100 else 0)
    return struct.unpack(">H", data[end - 2:end])[0]


def residual_steps(data: bytes) -> list[int]:
    """A version-6 header's residual steps, the L bytes just before the CRC (empty before)."""
    if not tools(data) & 0b100:
        return []
    end = header_length(data) - 4
    return list(data[end - fields(data)[4]:end])


def learned_layers(steps: list[int], layers: int) -> int:
    """The learned layers: those before the first residual one (every layer without steps)."""
    return next((k for k, s in enumerate(steps) if s), layers)


def residual_fields_ok(data: bytes) -> bool:
    """Check 16: the mask, if named, not 0 and within the layers; steps 0 for layer 1, never 0
    again once not 0, not all 0; the residual layers of the last learned layer's shift; and
    no residual layer corrected."""
    steps, mask, layers = residual_steps(data), corrected(data), fields(data)[4]
    learned = learned_layers(steps, layers)
    return ((not tools(data) & 0b10 or (mask and not mask >> layers))
            and any(steps) and steps[0] == 0 and all(steps[learned:])
            and len(set(shifts(data)[learned - 1:])) == 1 and not mask >> learned)


def shifts(data: bytes) -> list[int]:
    """The layer shifts: the header's bytes (version 3), or derived from the mode (version 2,
    a model of 3 levels in spatial mode)."""
    n, layers = data[6], fields(data)[4]
    if data[4] >= 3:
        return list(data[28 + n:28 + n + layers])
    return [3 - k for k in range(1, layers + 1)] if data[5] == 1 else [0] * layers


def image_size_ok(height: int, width: int) -> bool:
    return 1 <= height <= 65536 and 1 <= width <= 65536 and height * width <= 2**28


def fields(data: bytes) -> tuple:
    """digest, height, width, tile side, layers."""
    return struct.unpack(">8sIIIB", data[7 + data[6]:28 + data[6]])


def read_header(data: bytes) -> tuple[dict, int]:
    """The header as docs/format.md lays it out, and its size."""
    assert header_problem(data) is None
    n = data[6]
    digest, height, width, tile, layers = fields(data)
    palette, radii = exact_colours(data)
    return dict(mode=data[5], name=data[7:7 + n].decode("ascii"), digest=digest, height=height,
                width=width, tile=tile, layers=layers, shifts=shifts(data), palette=palette,
                radii=radii, corrected=corrected(data), tools=tools(data),
                steps=residual_steps(data)), header_length(data)


def forge(mode: int = 0, name: bytes = b"tiny-q", height: int = 80, width: int = 130,
          tile: int = 64, layers: int = 4, name_length: int | None = None,
          layer_shifts: bytes | None = None, colours: bytes = b"",
          mask: int | None = None, steps: bytes | None = None,
          tool_byte: int | None = None) -> bytes:
    """A version-3 header with a correct CRC, whatever its fields (shifts: all 0 unless
    given); with ``colours`` (K-1, the palette and the radii), a version-4 one; with a
    corrected-layers ``mask`` too, a version-5 one. With residual ``steps``, a version-6 one
    whose tools byte names what is given (or is ``tool_byte``)."""
    version = 6 if steps is not None else 5 if mask is not None else 4 if colours else 3
    tool = 0b100 | bool(colours) | (mask is not None) << 1 if tool_byte is None else tool_byte
    body = (MAGIC + bytes([version, mode, len(name) if name_length is None else name_length])
            + name + struct.pack(">8sIIIB", bytes(8), height, width, tile, layers)
            + (bytes(layers) if layer_shifts is None else layer_shifts)
            + (bytes([tool]) if version == 6 else b"") + colours
            + (b"" if mask is None else struct.pack(">H", mask)) + (steps or b""))
    return body + struct.pack(">I", zlib.crc32(body))


def tile_count(data: bytes) -> int:
    _, height, width, tile, _ = fields(data)
    return math.ceil(height / tile) * math.ceil(width / tile)


def read_chunks(data: bytes) -> tuple[list[bytes], int | None]:
    """The whole, intact chunks, and the number of the page's chunk check that stopped the
    reader at the next one (None: every declared chunk is intact)."""
    _, pos = read_header(data)
    tiles = tile_count(data)
    chunks: list[bytes] = []
    while len(chunks) < fields(data)[4]:
        if len(data) - pos < 8:
            return chunks, 1
        length, crc = struct.unpack(">II", data[pos:pos + 8])
        if length > 2**31:
            return chunks, 2
        if len(data) - pos - 8 < length:
            return chunks, 3
        payload = data[pos + 8:pos + 8 + length]
        if zlib.crc32(payload) != crc:
            return chunks, 4
        table = 4 * (tiles - 1)
        if table > length or sum(struct.unpack(f">{tiles - 1}I", payload[:table])) > length - table:
            return chunks, 5
        chunks.append(payload)
        pos += 8 + length
    return chunks, None


def split_tiles(payload: bytes, tiles: int) -> list[bytes]:
    lengths = struct.unpack(f">{tiles - 1}I", payload[:4 * (tiles - 1)])
    out, at = [], 4 * (tiles - 1)
    for n in lengths:
        out.append(payload[at:at + n])
        at += n
    return [*out, payload[at:]]


def join_tiles(strings: list[bytes]) -> bytes:
    """A payload: the lengths of every tile string but the last, then the strings."""
    return b"".join(struct.pack(">I", len(t)) for t in strings[:-1]) + b"".join(strings)


def split_learned(string: bytes) -> tuple[bytes, bytes]:
    """A corrected layer's tile string: (learned part, correction string), refused when the
    learned part's u32 length (or the u32 itself) goes beyond the string."""
    if len(string) < 4 or struct.unpack(">I", string[:4])[0] > len(string) - 4:
        raise Refused("the learned part's length is beyond the tile string")
    end = 4 + struct.unpack(">I", string[:4])[0]
    return string[4:end], string[end:]


def chunk(payload: bytes, crc: int | None = None) -> bytes:
    return struct.pack(">II", len(payload), zlib.crc32(payload) if crc is None else crc) + payload


# --- the ANS coder, as the page describes it ----------------------------------------------------

def fixed_point_cdf(freqs: np.ndarray) -> list[int]:
    """A stored row of frequencies as the coder's cumulative counts out of 2^24."""
    n = int(np.flatnonzero(freqs)[-1]) + 1
    cdf, total = [], 0
    for i, f in enumerate(np.asarray(freqs)[:n].tolist()):
        cdf.append(total * (2**24 - n) // 2**16 + i)
        total += int(f)
    return [*cdf, 2**24]


NIBBLE_CDF = [i << 20 for i in range(17)]


class PageAns:
    """An ``ans`` part's words, read from the end."""

    def __init__(self, data: bytes) -> None:
        self.words = list(struct.unpack(f"<{len(data) // 4}I", data))
        if not self.words:
            self.x = 0
        elif self.words[-1] == 0:
            raise Refused("ends in a zero word")
        elif len(self.words) == 1:
            self.x = self.words.pop()
        else:
            self.x = self.words.pop() << 32 | self.words.pop()

    def pop(self, cdf: list[int]) -> int:
        q = self.x % 2**24
        i = bisect_right(cdf, q) - 1
        self.x = (self.x >> 24) * (cdf[i + 1] - cdf[i]) + (q - cdf[i])
        assert self.x < 2**64
        if self.x < 2**32 and self.words:
            self.x = self.x << 32 | self.words.pop()
        return i

    def ended(self) -> bool:
        return self.x == 0 and not self.words


def push_all(pushes: list[tuple[list[int], int]]) -> bytes:
    """The page's encoder: (cdf, entry) pairs in the order a decoder pops them."""
    x, words = 0, []
    for cdf, i in reversed(pushes):
        p = cdf[i + 1] - cdf[i]
        if x >> 40 >= p:
            words.append(x % 2**32)
            x >>= 32
        x = (x // p) * 2**24 + cdf[i] + x % p
    words += [] if x == 0 else [x] if x < 2**32 else [x % 2**32, x >> 32]
    return struct.pack(f"<{len(words)}I", *words)


def escape_pushes(value: int) -> list[tuple[list[int], int]]:
    """The 4-bit symbols that follow an escape: count - 1, then the zigzag code's groups,
    least significant first."""
    u = 2 * value if value >= 0 else -2 * value - 1
    groups = [u >> (4 * k) & 15 for k in range(max(1, -(-u.bit_length() // 4)))]
    return [(NIBBLE_CDF, len(groups) - 1)] + [(NIBBLE_CDF, g) for g in groups]


def pop_groups(data: bytes, counts: list[int], tables: list[int], freqs: np.ndarray,
               offsets: np.ndarray, escapes: bool = True) -> list[int]:
    """An ``ans`` part: every group in order, then each escape's nibbles, then the end rule.
    ``escapes`` False: an escape entry is refused (a residual string's parts)."""
    if len(data) % 4:
        raise Refused("not whole words")
    if not data and sum(counts):
        raise Refused("empty")
    coder = PageAns(data)
    symbols, escaped = [], []
    for count, t in zip(counts, tables, strict=True):
        cdf = fixed_point_cdf(freqs[t])
        for _ in range(count):
            entry = coder.pop(cdf)
            if entry == len(cdf) - 2:
                if not escapes:
                    raise Refused("an escape entry")
                escaped.append(len(symbols))
            symbols.append(entry - int(offsets[t]))
    for i in escaped:
        count = coder.pop(NIBBLE_CDF) + 1
        u = sum(coder.pop(NIBBLE_CDF) << (4 * k) for k in range(count))
        symbols[i] = u >> 1 if u % 2 == 0 else -((u + 1) >> 1)
    if not coder.ended():
        raise Refused("does not end where its encoder began")
    return symbols


def page_index(sigma: float) -> int:
    """The table index: how many of the first 63 scales are below sigma."""
    return sum(1 for s in coding.SCALES[:63] if s < sigma)


def pop_by_scale(data: bytes, sigma: np.ndarray, freqs: np.ndarray,
                 offsets: np.ndarray) -> list[int]:
    """A by-scale string: the index check, then the groups by ascending table index."""
    index = [page_index(s) for s in sigma.reshape(-1).tolist()]
    if len(data) < 4 or struct.unpack(">I", data[:4])[0] != zlib.crc32(bytes(index)):
        raise Refused("index check")
    order = sorted(range(len(index)), key=index.__getitem__)  # stable
    tables = sorted(set(index))
    flat = pop_groups(data[4:], [index.count(t) for t in tables], tables, freqs, offsets)
    symbols = [0] * len(index)
    for element, value in zip(order, flat, strict=True):
        symbols[element] = value
    return symbols


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def coded(tiny) -> bytes:
    """An 80x130 image coded with 64-pixel tiles: 6 tiles, 4 layers."""
    return codec.encode(smooth_image(80, 130), tiny, tile=64)


@pytest.fixture(scope="module")
def factorized(tiny_model_path: str) -> tuple[np.ndarray, np.ndarray]:
    """offsets and freqs of the tiny model's level-1 factorized density, from its weights."""
    state = torch.load(tiny_model_path, weights_only=True)["state_dict"]
    return (state["levels.0.latent_codec.bottleneck.offsets"].numpy(),
            state["levels.0.latent_codec.bottleneck.freqs"].numpy())


@pytest.fixture(scope="module")
def gaussian() -> GaussianConditional:
    density = GaussianConditional()
    density.update()
    return density


# --- the container ------------------------------------------------------------------------------

def verdict(data: bytes) -> tuple[str, str] | None:
    """How rpncodec's parser takes a header: None, or (truncated or refused, its message)."""
    try:
        bitstream.parse(data)
    except TruncatedError as exc:
        return TRUNCATED, str(exc)
    except BitstreamError as exc:
        return REFUSED, str(exc)
    return None


def tools_byte_patterns() -> list[re.Pattern]:
    """The message of a refused version-6 tools byte, which the page gives inside check 6's
    own cell rather than in its last column."""
    row = next(line for line in PAGE.splitlines() if line.startswith("| 6 | at least"))
    return [_pattern(m) for m in re.findall(r"`([^`]+)`", row.split("|")[2])]


def residual_golden() -> list[bytes]:
    """The golden version-6 files (the golden image, its top layer a residual layer)."""
    return [path.read_bytes() for path in sorted(
        (Path(__file__).parent / "golden" / "residual-layers").glob("*.rpn"))]


def test_the_header_checks_come_in_the_documented_order_with_their_errors(coded) -> None:
    rows = page_checks("rpncodec's message")
    assert sorted(rows) == list(range(1, 17))
    rows["tools"] = (REFUSED, tools_byte_patterns())
    assert len(rows["tools"][1]) == 1
    good = forge()
    version2 = MAGIC + bytes([2, 0, 6]) + b"tiny-q" + struct.pack(">8sIIIB", bytes(8), 80, 130,
                                                                     64, 4)
    version2 += struct.pack(">I", zlib.crc32(version2))
    colours = bytes([1, 255, 255, 255, 10, 20, 30, 8, 40, 0, 0, 16, 0, 255, 255])
    v4 = forge(colours=colours)
    v5 = forge(colours=colours, mask=0b0101)
    v4_called_5 = v4[:4] + b"\x05" + v4[5:-4]
    v4_called_5 += struct.pack(">I", zlib.crc32(v4_called_5)) + b"\0\0"  # the CRC read 2 late
    bad_crc = good[:-1] + bytes([good[-1] ^ 1])
    v6 = forge(steps=b"\0\0\0\x30")
    v6x = forge(colours=colours, steps=b"\0\0\x05\x05")
    v6c = forge(colours=colours, mask=0b0011, steps=b"\0\0\x07\x09")
    v5_called_6 = v5[:4] + b"\x06" + v5[5:]  # its K - 1 (1) read as a tools byte
    cases = [
        b"", b"X", b"\x89", b"\x89RP", MAGIC, b"\x89RPX", b"\x89RPN\x05", b"\x89RPN\x06",
        b"\x89RPN\x01\x00", b"\x89RPN\x06\x00\x01",
        good[:5], good[:6], good[:7], good[:20], good[:-1], good[:6] + b"\x00abc",
        forge(name_length=0), forge(name_length=65)[:40], forge(name_length=10), bad_crc,
        forge(mode=4), forge(name=b"a/b"), forge(mode=4, name=b"a/b"), forge(height=0),
        forge(width=70000), forge(height=20000, width=20000), forge(name=b"a b", height=0),
        forge(layers=0), forge(layers=17), forge(height=0, layers=0), forge(tile=100),
        forge(tile=4096), forge(tile=0), forge(layers=0, tile=100), good, coded,
        good[:33], forge(layers=5)[:36], forge(layer_shifts=b"\x03\x02\x01\x00"),
        forge(layer_shifts=b"\x02\x01\x00\x01"), forge(layer_shifts=b"\x03\x00\x01\x00"),
        forge(tile=100, layer_shifts=b"\x09" * 4),
        forge(mode=1, layers=3, layer_shifts=b"\x02\x01\x00"),
        version2, version2[:-1], version2[:5] + b"\x01" + version2[6:],
        v4, v4[:38], v4[:39], v4[:47], v4[:-1], forge(colours=b"\x00\x01\x02\x03")[:-1],
        forge(mode=4, colours=b"\x00" * 12),
        v5, v5[:39], v5[:49], v5[:-6], v5[:-5], v5[:-1], v4_called_5, v4_called_5[:-2],
        forge(colours=colours, mask=0b1111),
        forge(colours=colours, mask=0b10000), forge(colours=colours, mask=0x8000),
        forge(layers=1, colours=bytes([0, 9, 9, 9, 4, 0]), mask=1),
        forge(layers=1, colours=bytes([0, 9, 9, 9, 4, 0]), mask=2),
        forge(mode=4, colours=colours, mask=0), forge(tile=100, colours=colours, mask=0x10),
        forge(layers=17, layer_shifts=bytes(17), colours=bytes([0, 1, 2, 3]) + bytes(34), mask=0),
        forge(layer_shifts=b"\x00\x01\x00\x00", colours=colours, mask=0x10),
        # version 6: the tools byte, then the fields it names, then check 16
        b"\x89RPN\x07", v6, v6x, v6c, *residual_golden(), v6[:38], v6[:39], v6[:-1], v6x[:39],
        v6x[:40], v6x[:-5], v6c[:-1], v6[:-4] + bytes(4),
        *(forge(steps=b"\0\0\0\x30", tool_byte=t) for t in (0, 1, 2, 3, 6, 7 | 8, 0x84, 0xff)),
        forge(steps=b"\0\0\0\x30", tool_byte=6)[:39], forge(steps=b"\0\0\0\x30", tool_byte=1)[:-1],
        forge(colours=colours, steps=b"\0\0\0\x30", tool_byte=4),  # reads K - 1 as a step
        forge(steps=b"\0\0\0\x30", tool_byte=5)[:47],  # its first step read as K - 1
        v5_called_6, forge(mode=4, steps=b"\x05" * 4), forge(tile=100, steps=b"\x05" * 4),
        forge(layer_shifts=b"\x00\x01\x00\x00", steps=b"\x05" * 4),
        forge(layers=0, steps=b"", tool_byte=4), forge(layers=17, steps=bytes(17)),
        forge(steps=b"\x05\x00\x00\x00"), forge(steps=b"\x00\x05\x00\x05"),
        forge(steps=b"\x05" * 4), forge(steps=bytes(4)), forge(colours=colours, steps=bytes(4)),
        forge(layers=1, steps=b"\x01"), forge(layers=1, steps=b"\x00"),
        forge(layers=16, layer_shifts=bytes(16), steps=bytes(15) + b"\xff"),
        forge(colours=colours, mask=0, steps=b"\x00\x00\x00\x09"),
        forge(colours=colours, mask=0, steps=b"\x09\x00\x00\x00"),
        forge(colours=colours, mask=0b1000, steps=b"\x00\x00\x00\x09"),
        forge(colours=colours, mask=0b0100, steps=b"\x00\x00\x00\x09"),
        forge(colours=colours, mask=0b0100, steps=b"\x00\x00\x09\x09"),
        forge(layer_shifts=b"\x02\x01\x00\x00", steps=b"\x00\x00\x00\x09"),
        forge(layer_shifts=b"\x02\x01\x00\x00", steps=b"\x00\x00\x09\x09"),
        forge(mode=1, layers=3, layer_shifts=b"\x02\x01\x00", steps=b"\x00\x00\x01"),
    ]
    failed = set()
    for data in cases:
        check = header_problem(data)
        theirs = verdict(data)
        if check is None:
            assert theirs is None, data
            continue
        failed.add(check)
        kind, patterns = rows[check]
        assert theirs is not None and theirs[0] == kind, (data, check, theirs)
        assert any(p.fullmatch(theirs[1]) for p in patterns), (data, check, theirs[1])
    assert failed == set(rows)  # every documented check is exercised
    # the cases the page spells out
    assert verdict(MAGIC[:3])[0] == TRUNCATED
    assert verdict(good[:6] + b"\x00abc") == (REFUSED, "damaged .rpn header (model name length 0)")
    assert verdict(b"\x89RPN\x07") == (
        REFUSED, "unsupported .rpn format version 7 (this rpncodec reads versions 2 to 6)")
    assert verdict(b"\x89RPN\x06")[0] == TRUNCATED
    # check 15's message naming a layer the file does not declare
    assert verdict(forge(colours=colours, mask=0b10000)) == (
        REFUSED, "colour corrections need exact colours and name layers 1 to 4, not the mask 0x10")
    assert read_header(v5)[0]["corrected"] == 0b0101
    assert read_header(v5)[1] == read_header(v4)[1] + 2 == len(v5)  # 2 bytes longer
    # version 6: the tools byte and one step per layer more than the same file without them
    for data, without in ((v6, good), (v6x, v4), (v6c, forge(colours=colours, mask=0b0011))):
        header, size = read_header(data)
        assert size == read_header(without)[1] + 1 + 4 == len(data)
        theirs = bitstream.parse(data).header
        assert (header["steps"], header["corrected"], header["palette"], header["radii"]) == (
            list(theirs.steps), theirs.corrected,
            [tuple(theirs.palette[i:i + 3]) for i in range(0, len(theirs.palette), 3)],
            list(theirs.radii))
    assert read_header(v6c)[0]["tools"] == 0b111 and read_header(v6c)[0]["corrected"] == 0b0011
    assert verdict(forge(steps=b"\0\0\0\x30", tool_byte=0x84)) == (
        REFUSED, "damaged .rpn header (tools byte 0x84)")


def test_the_chunk_checks_come_in_the_documented_order_with_their_errors() -> None:
    rows = page_checks("why (rpncodec's wording)")
    assert sorted(rows) == [1, 2, 3, 4, 5]
    head = forge(layers=2)  # 80x130 in 64-pixel tiles: 6 tiles
    table = struct.pack(">5I", 1, 2, 3, 4, 5)
    whole = table + bytes(15) + b"last"
    cases = [
        head, head + b"\0" * 7, head + struct.pack(">I", 2**31 + 1),
        head + struct.pack(">II", 2**31 + 1, 0) + b"xy", head + chunk(whole)[:-1],
        head + chunk(whole, crc=0), head + chunk(table[:16]), head + chunk(table),
        head + chunk(struct.pack(">5I", 1, 2, 3, 4, 6) + bytes(15)),
        head + chunk(whole) + chunk(whole)[:30], head + chunk(whole) + chunk(b"\0" * 20),
        head + chunk(whole) + chunk(whole), head + chunk(whole) + chunk(whole) + b"trailing",
    ]
    failed = set()
    for data in cases:
        ours, check = read_chunks(data)
        theirs = bitstream.parse(data)
        assert theirs.chunks == ours
        if check is None:
            assert not theirs.truncated and theirs.damaged is None
            continue
        failed.add(check)
        kind, patterns = rows[check]
        assert (TRUNCATED if theirs.truncated else DAMAGED) == kind, (data, check)
        if kind == DAMAGED:
            assert theirs.damaged == len(ours) + 1
            assert any(p.fullmatch(theirs.damage) for p in patterns), theirs.damage
    assert failed == set(rows)


def test_container_tiles_and_a_factorized_level(coded, tiny, tiny_model_path: str,
                                                factorized) -> None:
    header, _ = read_header(coded)
    assert header["name"] == "tiny-q" and header["mode"] == 0
    assert header["digest"] == hashlib.sha256(Path(tiny_model_path).read_bytes()).digest()[:8]
    assert (header["height"], header["width"], header["tile"]) == (80, 130, 64)
    chunks, problem = read_chunks(coded)
    assert problem is None and len(chunks) == header["layers"] == 4
    grid = [(top, left, min(64, 80 - top), min(64, 130 - left))
            for top in range(0, 80, 64) for left in range(0, 130, 64)]
    assert len(grid) == tile_count(coded) == 6
    strings = split_tiles(chunks[0], len(grid))
    assert strings == bitstream.split_tiles(chunks[0], len(grid))

    offsets, freqs = factorized
    channels = len(offsets)
    tables = tiny.model.levels[0].latent_codec.bottleneck.coding_models()
    for (_, _, th, tw), string in zip(grid, strings, strict=True):
        h, w = math.ceil(th / 16), math.ceil(tw / 16)  # quality mode: pad_multiple 16
        ours = pop_groups(string, [h * w] * channels, list(range(channels)), freqs, offsets)
        theirs = coding.decode_by_channel(string, channels, (h, w), tables, offsets)
        assert ours == theirs.reshape(-1).tolist()


def test_escapes_follow_the_documented_order(tiny, factorized) -> None:
    offsets, freqs = factorized
    tables = tiny.model.levels[0].latent_codec.bottleneck.coding_models()
    rng = np.random.default_rng(0)
    symbols = rng.integers(-3, 4, size=(len(offsets), 3, 5))
    symbols[0, 0, 0], symbols[2, 1, 3], symbols[-1, 2, 4] = 2**40, -70000, 17
    symbols[1, 0, 1], symbols[1, 0, 2] = 2**63 - 1, -2**63  # 16 nibbles each
    data = coding.encode_by_channel(symbols, tables, offsets)
    ours = pop_groups(data, [15] * len(offsets), list(range(len(offsets))), freqs, offsets)
    assert ours == symbols.reshape(-1).tolist()
    # and the page's encoder writes the same words: the groups, then each escape's nibbles
    pushes, nibbles = [], []
    for c, row in enumerate(symbols.reshape(len(offsets), -1).tolist()):
        cdf = fixed_point_cdf(freqs[c])
        for s in row:
            entry = s + int(offsets[c])
            if not 0 <= entry < len(cdf) - 2:
                entry = len(cdf) - 2
                nibbles += escape_pushes(s)
            pushes.append((cdf, entry))
    assert push_all(pushes + nibbles) == data


# --- the ANS coder ------------------------------------------------------------------------------

def encode_one(symbol: int, model) -> list[int]:
    """constriction's words for one symbol pushed on an empty coder: from x = 0 the state
    becomes the symbol's cumulative count, so this reads constriction's fixed-point table."""
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(np.array([symbol], dtype=np.int32), model)
    return coder.get_compressed().tolist()


def test_the_fixed_point_tables_are_constrictions(factorized, gaussian) -> None:
    example = np.array([40000, 20000, 5535, 1])
    cdf = fixed_point_cdf(example)
    assert f"cdf = {cdf}" in PAGE
    assert f"p   = {np.diff(cdf).tolist()}" in PAGE
    rows = [example, *factorized[1], *gaussian.freqs.numpy()[::7]]
    rng = np.random.default_rng(2)
    for row in rows:
        cdf = fixed_point_cdf(row)
        n = len(cdf) - 1
        model = constriction.stream.model.Categorical(row[:n].astype(np.float64), perfect=False)
        entries = {0, 1, n - 2, n - 1, *rng.integers(0, n, 20).tolist()}
        for i in entries:
            words = encode_one(i, model)
            assert words == ([cdf[i]] if cdf[i] else []), (row, i)
            assert push_all([(cdf, i)]) == struct.pack(f"<{len(words)}I", *words)
    nibble = constriction.stream.model.Uniform(16)
    for v in range(16):
        assert encode_one(v, nibble) == ([NIBBLE_CDF[v]] if v else [])


def test_the_worked_decoding_example() -> None:
    words = [2483027951, 3003121592, 737]
    assert f"`{words}`" in PAGE
    cdf = fixed_point_cdf(np.array([40000, 20000, 5535, 1]))
    coder = PageAns(struct.pack("<3I", *words))
    assert coder.x == 3168394018744
    assert [coder.pop(cdf) for _ in range(6)] == [3, 3, 3, 1, 2, 0] and coder.ended()
    encoder = constriction.stream.stack.AnsCoder()
    model = constriction.stream.model.Categorical(np.array([40000.0, 20000, 5535, 1]),
                                                  perfect=False)
    encoder.encode_reverse(np.array([3, 3, 3, 1, 2, 0], dtype=np.int32), model)
    assert encoder.get_compressed().tolist() == words
    assert push_all([(cdf, i) for i in (3, 3, 3, 1, 2, 0)]) == struct.pack("<3I", *words)


def test_the_table_index_rule() -> None:
    """The page's formula gives the listed scales to the last bits (which differ between math
    libraries), and its counting rule is rpncodec's index, at and around every boundary."""
    scales = coding.SCALES
    formula = np.exp(np.log(0.11) + np.arange(64) * (np.log(64) - np.log(0.11)) / 63)
    assert np.allclose(formula, scales, rtol=1e-13, atol=0)
    sigma = np.concatenate([np.exp(np.random.default_rng(1).uniform(-4, 5, 3000)), scales,
                            np.nextafter(scales, 0), np.nextafter(scales, np.inf),
                            [np.nan, np.inf, -np.inf, -1.0, 0.0, 64.0, 63.99999999999999]])
    assert [page_index(s) for s in sigma] == coding.scale_indices(sigma).tolist()
    assert page_index(64.0) == page_index(np.nextafter(scales[63], np.inf)) == 63
    assert page_index(np.nan) == 0


def test_by_scale_strings(gaussian) -> None:
    rng = np.random.default_rng(3)
    scales = coding.SCALES
    sigma = np.concatenate([
        np.exp(rng.uniform(-3, 4.5, 300)), scales, np.nextafter(scales, 0),
        np.nextafter(scales, np.inf), [np.nan, np.inf, -np.inf, -1.0, 0.0, 0.11, 64.0,
                                       63.99999999999999, 100.0]])
    assert scales[63] == 63.99999999999998 and f"SCALES[63] ({scales[63]}," in FLAT
    assert f"SCALES[0] ({scales[0]})" in FLAT
    symbols = np.round(rng.normal(0, 1, sigma.shape) * np.nan_to_num(sigma, nan=1, posinf=64,
                                                                   neginf=0)).astype(np.int64)
    symbols[:5] = [3000, -3000, 2**50, -7, 0]
    sigma = sigma.reshape(1, 1, -1)
    offsets = gaussian.offsets.numpy()
    data = coding.encode_by_scale(symbols.reshape(sigma.shape), sigma, gaussian.coding_models(),
                                  offsets)
    assert pop_by_scale(data, sigma, gaussian.freqs.numpy(), offsets) == symbols.tolist()
    with pytest.raises(Refused):  # another table somewhere: the index check stops it
        pop_by_scale(data, sigma * 1.3, gaussian.freqs.numpy(), offsets)


def test_the_reader_refuses_exactly_what_rpncodec_refuses(coded, tiny, factorized) -> None:
    """The page's rules for a part (whole words, not empty, no trailing zero word, the end
    rule) against constriction's, on real strings and damaged copies of them."""
    offsets, freqs = factorized
    channels = len(offsets)
    tables = tiny.model.levels[0].latent_codec.bottleneck.coding_models()
    strings = split_tiles(read_chunks(coded)[0][0], 6)
    sizes = [(math.ceil(th / 16), math.ceil(tw / 16)) for th in (64, 16) for tw in (64, 64, 2)]
    rng = np.random.default_rng(4)
    refused = 0
    for string, (h, w) in zip(strings, sizes, strict=True):
        variants = [string, string[:-4], string[4:], string + b"\1\0\0\0", string + bytes(4),
                    string[:-1], b"", string[4:8] + string[:4] + string[8:]]
        for _ in range(10):
            damaged = bytearray(string)
            damaged[rng.integers(len(damaged))] ^= 1 << int(rng.integers(8))
            variants.append(bytes(damaged))
        for data in variants:
            try:
                theirs = coding.decode_by_channel(data, channels, (h, w), tables, offsets)
            except BitstreamError:
                theirs = None
            try:
                ours = pop_groups(data, [h * w] * channels, list(range(channels)), freqs,
                                  offsets)
            except Refused:
                ours = None
            assert ours == (None if theirs is None else theirs.reshape(-1).tolist()), data
            refused += ours is None
    assert refused > 40  # the damaged copies are mostly caught


# --- cut and damaged files ----------------------------------------------------------------------

def cut_in(data: bytes, layer: int) -> bytes:
    """``data`` ending inside chunk ``layer``."""
    return data[:bitstream.parse(data).byte_ranges[layer - 1][1] - 1]


def damage(data: bytes, layer: int) -> bytes:
    """``data`` with the CRC of chunk ``layer`` wrong."""
    start = bitstream.parse(data).byte_ranges[layer - 1][0] + 4
    return data[:start] + bytes([data[start] ^ 1]) + data[start + 1:]


def message(data: bytes, layers: int | None) -> str | None:
    try:
        bitstream.select(bitstream.parse(data), layers)
    except BitstreamError as exc:
        return str(exc)
    return None


def test_cut_and_damaged_files_give_the_documented_errors(coded) -> None:
    for layers in (None, 1, 4):  # k = 0: whatever is asked for
        assert message(cut_in(coded, 1), layers) == \
            "file is truncated: none of its 4 layers is complete"
        assert message(damage(coded, 1), layers) == \
            "layer 1 of 4 is damaged (CRC mismatch); no layer can be decoded"
    assert message(cut_in(coded, 3), 4) == \
        "file is truncated: only 2 of 4 layers are complete (use --layers 2)"
    assert message(damage(coded, 3), 4) == \
        "layer 3 of 4 is damaged (CRC mismatch); layers 1-2 decode (use --layers 2)"
    assert message(damage(coded, 2), 3) == \
        "layer 2 of 4 is damaged (CRC mismatch); layer 1 decodes (use --layers 1)"
    for data in (cut_in(coded, 3), damage(coded, 3)):  # all layers, or k or fewer: no error
        assert message(data, None) is None and message(data, 2) is None
    # the page's table gives these messages word for word
    for data, layers in [(cut_in(coded, 1), None), (damage(coded, 1), None), (cut_in(coded, 3), 4),
                         (damage(coded, 3), 4)]:
        assert f"`{message(data, layers)}`" in FLAT
    assert "`...; layer 1 decodes (use --layers 1)`" in FLAT


def test_an_entropy_decoding_failure_names_layer_and_tile(coded, tiny) -> None:
    """The page's example: a payload that passes its CRC but whose tile 2 string in layer 3
    ends in a zero word."""
    container = bitstream.parse(coded)
    start, end = container.byte_ranges[2]
    strings = split_tiles(coded[start + 8:end], 6)
    assert len(strings[1]) >= 4
    strings[1] = strings[1][:-4] + bytes(4)
    damaged = coded[:start] + chunk(bitstream.join_tiles(strings)) + coded[end:]
    with pytest.raises(BitstreamError) as caught:
        codec.decode(damaged, model=tiny)
    documented = ("layer 3 of 4 is damaged (tile 2 of 6: damaged layer payload (...)); "
                  "layers 1-2 decode (use --layers 2)")
    assert f"`{documented}`" in FLAT
    pattern = re.escape(documented).replace(r"\.\.\.", ".+")
    assert re.fullmatch(pattern, str(caught.value)), str(caught.value)


# --- exact colours (version 4) ------------------------------------------------------------------

def snap_as_the_page_says(tile: np.ndarray, palette: list[tuple[int, int, int]], r1: int,
                          r2: int) -> np.ndarray:
    """The page's two passes over one tile's decoded pixels, pixel by pixel."""
    if not r1:
        return tile
    h, w = tile.shape[:2]
    d = tile.astype(int).tolist()
    out = tile.copy()
    nearest = {}
    for y in range(h):
        for x in range(w):
            dist = [max(abs(a - b) for a, b in zip(d[y][x], c, strict=True)) for c in palette]
            c = dist.index(min(dist))
            if dist[c] <= r1:
                nearest[y, x] = c
                out[y, x] = palette[c]
    if not r2:
        return out
    for y in range(h):
        for x in range(w):
            if (y, x) in nearest:
                continue
            best = None
            for dy in range(-3, 4):
                for dx in range(-3, 4):
                    q = (y + dy, x + dx)
                    if (dy or dx) and q in nearest:
                        colour = palette[nearest[q]]
                        e = sum((a - b) ** 2 for a, b in zip(d[y][x], colour, strict=True))
                        if best is None or e < best[0]:
                            best = (e, colour)
            if best is not None and (best[0] == 0 or math.isqrt(best[0] - 1) + 1 <= r2):
                out[y, x] = best[1]
    return out


def test_exact_colours_decode_as_the_page_says(tiny) -> None:
    """A flat-colour image coded by the tiny model (6 tiles) gets a version-4 header; the page's
    reader finds its palette and radii, and its two passes over each tile of the file's
    version-3 twin give rpncodec's decoded pixels at every layer."""
    image = np.full((80, 130, 3), 255, np.uint8)
    image[10:50, 20:70] = (251, 40, 184)
    image[30:75, 60:120] = (20, 90, 200)
    image[60:66, 5:125] = (30, 30, 30)
    data = codec.encode(image, tiny, 64)
    assert data[4] == 4
    header, size = read_header(data)
    parsed = bitstream.parse(data).header
    assert header["palette"] == [tuple(parsed.palette[i:i + 3])
                                 for i in range(0, len(parsed.palette), 3)]
    assert {(255, 255, 255), (251, 40, 184), (20, 90, 200)} <= set(header["palette"])
    assert header["radii"] == list(parsed.radii)
    assert any(r1 for r1, _ in header["radii"])
    twin = dataclasses.replace(parsed, palette=b"", radii=()).to_bytes() + data[size:]
    for k in range(1, 5):
        plain = codec.decode(twin, k, tiny).image
        ours = plain.copy()
        for top in range(0, 80, 64):
            for left in range(0, 130, 64):
                region = (slice(top, top + 64), slice(left, left + 64))
                ours[region] = snap_as_the_page_says(plain[region], header["palette"],
                                                     *header["radii"][k - 1])
        np.testing.assert_array_equal(codec.decode(data, k, tiny).image, ours)


# --- colour corrections (version 5) -------------------------------------------------------------

NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
Colour = tuple[int, int, int]
Pixel = tuple[int, int]  # (y, x) in a tile


def palette_indices(shown: np.ndarray, palette: list[Colour]) -> list[list[int | None]]:
    """Step 1: per pixel of a tile's snapped pixels S, the lowest c with P[c] = S[p], or None."""
    lowest: dict[Colour, int] = {}
    for c, colour in enumerate(palette):
        lowest.setdefault(tuple(colour), c)
    return [[lowest.get(tuple(px)) for px in row] for row in shown.tolist()]


def inside(shown: np.ndarray, y: int, x: int) -> list[Pixel]:
    """The neighbours of (y, x) inside the tile, in the page's order."""
    h, w = shown.shape[:2]
    return [(y + dy, x + dx) for dy, dx in NEIGHBOURS if 0 <= y + dy < h and 0 <= x + dx < w]


def correction_contexts(shown: np.ndarray, index: list[list[int | None]]) -> list[list[int]]:
    """Step 2: 3 x (the pixel has a palette index) + 0, 1 or 2 for 0, 1-3 or 4-8 neighbours
    inside the tile whose colour differs from its own."""
    s = shown.tolist()
    out = []
    for y, row in enumerate(s):
        out.append([])
        for x, colour in enumerate(row):
            differ = sum(s[ny][nx] != colour for ny, nx in inside(shown, y, x))
            out[-1].append(3 * (index[y][x] is not None) + (0 if not differ else
                                                            1 if differ <= 3 else 2))
    return out


def neighbour_list(shown: np.ndarray, index: list[list[int | None]], y: int,
                   x: int) -> list[int]:
    """Step 3: the palette indices of the neighbours inside the tile, in the page's order,
    without the pixel's own and without repeats."""
    listed: list[int] = []
    for ny, nx in inside(shown, y, x):
        c = index[ny][nx]
        if c is not None and c != index[y][x] and c not in listed:
            listed.append(c)
    return listed


def read_correction(string: bytes, context: list[list[int]]) -> list[tuple[int, int, int]]:
    """Steps 4 and 5: (y, x, symbol) for every pixel of a coded context, in the order they are
    popped (the coded contexts lowest first, each in row-major order)."""
    if not string:
        return []
    mask = string[0]
    coded = [c for c in range(8) if mask >> c & 1]
    if not coded or coded[-1] > 5:
        raise Refused(f"a mask of {mask:#x} names no context, or one above 5")
    end = 1 + 20 * len(coded)
    if len(string) < end:
        raise Refused("the string ends inside its tables")
    tables = [struct.unpack_from(">10H", string, 1 + 20 * g) for g in range(len(coded))]
    if any(min(t) < 1 or sum(t) != 2**16 for t in tables):
        raise Refused("a table with an entry 0 or not summing to 2^16")
    pixels = [[(y, x) for y, row in enumerate(context) for x, ctx in enumerate(row) if ctx == c]
              for c in coded]
    symbols = pop_groups(string[end:], [len(p) for p in pixels], list(range(len(coded))),
                         np.array(tables), np.zeros(len(coded), np.int64))
    return [(y, x, s) for (y, x), s in zip(itertools.chain(*pixels), symbols, strict=True)]


def correct_as_the_page_says(shown: np.ndarray, palette: list[Colour],
                             string: bytes) -> np.ndarray:
    """Step 6: a tile's snapped pixels with its correction string applied, everything computed
    from S before any pixel changes."""
    index = palette_indices(shown, palette)
    out = shown.copy()
    for y, x, s in read_correction(string, correction_contexts(shown, index)):
        if s == 0:
            continue
        listed = neighbour_list(shown, index, y, x)
        if 1 <= s <= len(listed):
            out[y, x] = palette[listed[s - 1]]
        elif 9 <= s < 9 + len(palette):
            out[y, x] = palette[s - 9]
        else:
            raise Refused(f"symbol {s} names no entry of the list ({len(listed)}) or palette")
    return out


def corrected_parts(data: bytes, k: int) -> tuple[list[list[bytes]], list[bytes]]:
    """Per layer 1..k its tiles' learned parts, and per tile layer k's correction string
    (b"" for a layer whose bit is clear): lower layers' correction strings are skipped."""
    header, _ = read_header(data)
    chunks, _ = read_chunks(data)
    learned, corrections = [], []
    for j, payload in enumerate(chunks[:k], 1):
        strings = split_tiles(payload, tile_count(data))
        parts = [split_learned(t) if header["corrected"] >> (j - 1) & 1 else (t, b"")
                 for t in strings]
        learned.append([a for a, _ in parts])
        corrections = [b for _, b in parts]
    return learned, corrections


def decode_as_the_page_says(data: bytes, k: int,
                            model: Coder) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Layer ``k`` of a full-size (quality-mode) file: the learned parts decoded by rpncodec's
    networks from a version-3 twin (the file's first 28 + n + L header bytes, version byte 3,
    and chunks of learned parts only), then, tile by tile, the page's two snapping passes and
    layer k's correction strings. Returns the image, the same before corrections, and the
    correction symbols read."""
    header, _ = read_header(data)
    assert header["shifts"] == [0] * header["layers"]
    learned, corrections = corrected_parts(data, k)
    n = data[6]
    body = MAGIC + b"\x03" + data[5:28 + n + header["layers"]]
    twin = body + struct.pack(">I", zlib.crc32(body)) + b"".join(chunk(join_tiles(t))
                                                                  for t in learned)
    plain = codec.decode(twin, k, model).image
    snapped, ours, symbols = plain.copy(), plain.copy(), []
    side = header["tile"]
    regions = [(slice(top, top + side), slice(left, left + side))
               for top in range(0, header["height"], side)
               for left in range(0, header["width"], side)]
    for region, string in zip(regions, corrections, strict=True):
        shown = snap_as_the_page_says(plain[region], header["palette"], *header["radii"][k - 1])
        snapped[region] = shown
        ours[region] = correct_as_the_page_says(shown, header["palette"], string)
        index = palette_indices(shown, header["palette"])
        symbols += [s for _, _, s in read_correction(string, correction_contexts(shown, index))]
    return ours, snapped, symbols


def flat_rectangles(height: int, width: int, seed: int) -> np.ndarray:
    """Saturated flat rectangles on white: exact colours, with edges that snapping alone gets
    wrong here and there."""
    rng = np.random.default_rng(seed)
    colours = [(251, 40, 184), (20, 90, 200), (30, 30, 30), (250, 220, 0), (0, 170, 60)]
    image = np.full((height, width, 3), 255, np.uint8)
    for _ in range(8):
        y, x = rng.integers(0, height - 8), rng.integers(0, width - 8)
        image[y:y + rng.integers(4, height // 2), x:x + rng.integers(4, width // 2)] = \
            colours[rng.integers(len(colours))]
    return image


@pytest.fixture(scope="module")
def screen() -> Coder:
    """The shipped model for flat colour. The tiny random model's files of flat colour stay
    version 4 (its corrections do not pay); this model's become version 5."""
    return open_model("rpn-quality-screen")


@pytest.fixture(scope="module")
def corrected_files(screen) -> dict[str, bytes]:
    """Real version-5 files: one tile (every layer corrected), and six 64-pixel tiles (layer 1
    not corrected: its strings are read whole)."""
    files = {"one tile": codec.encode(flat_rectangles(96, 160, 1), screen),
             "six tiles": codec.encode(flat_rectangles(96, 160, 0), screen, tile=64)}
    for data in files.values():
        assert bitstream.parse(data).header.version == 5  # not silently a version-4 file
    return files


@pytest.mark.parametrize("name", ["one tile", "six tiles"])
def test_colour_corrections_decode_as_the_page_says(corrected_files, screen, name: str) -> None:
    """The page's reader finds the version-5 header's mask and, per corrected layer, each tile
    string's learned part and correction string; learned parts through the networks, then its
    own snapping and corrections give rpncodec's decoded pixels at every layer."""
    data = corrected_files[name]
    header, size = read_header(data)
    assert header["corrected"] == {"one tile": 0b1111, "six tiles": 0b1110}[name]
    assert data[4] == 5 and header["corrected"] == bitstream.parse(data).header.corrected != 0
    assert size == bitstream.header_size(header["name"], header["layers"],
                                         len(header["palette"]), True)
    kinds, snapped_only = [0, 0, 0], 0
    for k in range(1, header["layers"] + 1):
        ours, snapped, symbols = decode_as_the_page_says(data, k, screen)
        np.testing.assert_array_equal(codec.decode(data, k, screen).image, ours)
        learned, corrections = corrected_parts(data, k)
        assert any(corrections) == bool(header["corrected"] >> (k - 1) & 1)
        theirs = [bitstream.split_correction(t) if header["corrected"] >> (k - 1) & 1 else (t, b"")
                  for t in bitstream.split_tiles(bitstream.parse(data).chunks[k - 1],
                                                 tile_count(data))]
        assert (learned[-1], corrections) == ([a for a, _ in theirs], [b for _, b in theirs])
        snapped_only += int((snapped != ours).sum())
        for symbol in symbols:
            kinds[0 if symbol == 0 else 1 if symbol < 9 else 2] += 1
    assert snapped_only > 0  # the corrections change pixels
    assert kinds[1] > 0, kinds  # [keep, rank, escape] symbols read


def test_a_learned_length_beyond_its_tile_string_damages_the_layer(corrected_files,
                                                                    screen) -> None:
    """A corrected layer's tile string whose u32 says more than the string holds (or that is
    too short for the u32): the page's reader refuses it, rpncodec calls the layer damaged
    when decoding it or any layer above, and the layers below still decode."""
    data = corrected_files["six tiles"]
    header, _ = read_header(data)
    assert header["corrected"] == 0b1110  # layer 1 is not corrected: its strings stay whole
    start, end = bitstream.parse(data).byte_ranges[1]
    strings = split_tiles(data[start + 8:end], 6)
    learned, correction = split_learned(strings[0])
    assert correction and strings[0] == struct.pack(">I", len(learned)) + learned + correction
    assert split_learned(struct.pack(">I", len(strings[0]) - 4) + strings[0][4:]) == \
        (strings[0][4:], b"")  # a learned part that fills the string: no correction
    for bad in (struct.pack(">I", len(strings[0]) - 3) + strings[0][4:], strings[0][:3]):
        with pytest.raises(Refused):
            split_learned(bad)
        damaged = data[:start] + chunk(join_tiles([bad, *strings[1:]])) + data[end:]
        assert read_chunks(damaged)[1] is None  # the chunk itself is intact
        np.testing.assert_array_equal(codec.decode(damaged, 1, screen).image,
                                      codec.decode(data, 1, screen).image)
        for k in (2, 4):
            with pytest.raises(BitstreamError) as caught:
                codec.decode(damaged, k, screen)
            assert re.fullmatch(r"layer 2 of 4 is damaged \(tile 1 of 6: damaged layer payload "
                                r"\(.+\)\); layer 1 decodes \(use --layers 1\)",
                                str(caught.value)), str(caught.value)


def hand_built_tile() -> tuple[np.ndarray, list[Colour]]:
    """A 9x11 tile of flat palette colours with stray pixels off the palette, and a palette of
    200 colours (so that escapes take up to three 4-bit groups) in which white comes twice."""
    white, pink, blue, black = (255, 255, 255), (251, 40, 184), (20, 90, 200), (30, 30, 30)
    tile = np.array([white], np.uint8).repeat(99, 0).reshape(9, 11, 3)
    tile[:, 6:] = pink
    tile[5:, 2:8] = blue
    tile[7, 1:4] = black
    tile[2, 2] = (128, 128, 128)  # off the palette, alone
    tile[0:3, 8:11] = (250, 41, 184)  # a 3x3 block off the palette
    tile[4, 6] = (21, 90, 200)
    fillers = [(i, 255 - i, (7 * i) % 256) for i in range(195)]
    return tile, [white, pink, blue, white, *fillers[:100], black, *fillers[100:]]


def hand_built_string(tile: np.ndarray, palette: list[Colour], targets: dict[Pixel, int],
                      coded: list[int], tables: dict[int, list[int]],
                      forced: dict[Pixel, int] | None = None) -> tuple[bytes, np.ndarray]:
    """The page's correction string giving each pixel (y, x) of ``targets`` palette colour
    ``targets[y, x]`` (a rank when its neighbour list holds it, else an escape), with the
    ``coded`` contexts and their ``tables``, written with the page's encoder, and the pixels it
    should decode to. ``forced``: symbols to write as given instead, for damaged strings."""
    index = palette_indices(tile, palette)
    context = correction_contexts(tile, index)
    expected = tile.copy()
    pushes, nibbles = [], []
    for c in coded:
        cdf = fixed_point_cdf(np.array(tables[c]))
        for y, x in ((y, x) for y in range(tile.shape[0]) for x in range(tile.shape[1])
                     if context[y][x] == c):
            symbol = 0
            if (y, x) in targets:
                listed = neighbour_list(tile, index, y, x)
                wanted = targets[y, x]
                symbol = listed.index(wanted) + 1 if wanted in listed else 9 + wanted
                expected[y, x] = palette[wanted]
            symbol = (forced or {}).get((y, x), symbol)
            escaped = not 0 <= symbol < 9 or (y, x) in (forced or {})
            pushes.append((cdf, 9 if escaped else symbol))
            nibbles += escape_pushes(symbol) if escaped else []
    head = bytes([sum(1 << c for c in coded)])
    return head + b"".join(struct.pack(">10H", *tables[c]) for c in coded) + \
        push_all(pushes + nibbles), expected


def random_table(rng: np.random.Generator) -> list[int]:
    """10 frequencies, each at least 1, summing to 2^16, keep the most likely."""
    rest = rng.integers(1, 3000, 9).tolist()
    return [2**16 - sum(rest), *rest]


def correct_theirs(tile: np.ndarray, palette: list[Colour], string: bytes) -> np.ndarray | None:
    """rpncodec's corrections of one snapped tile; None when it calls the string damaged."""
    try:
        return colour_corrections.correct(tile, np.array(palette, np.uint8), string)
    except BitstreamError:
        return None


def correct_ours(tile: np.ndarray, palette: list[Colour], string: bytes) -> np.ndarray | None:
    """The page's corrections of one snapped tile; None when it refuses the string."""
    try:
        return correct_as_the_page_says(tile, palette, string)
    except Refused:
        return None


def test_a_hand_built_correction_string() -> None:
    """Every context present, one of them left uncoded; ranks 1 to 3, escapes of one to three
    4-bit groups, an escape whose value is a rank, a table per coded context: the page's reader
    and rpncodec give the pixels the string was built for, and the page's encoder writes
    rpncodec's words. Damaged copies are refused by both alike."""
    tile, palette = hand_built_tile()
    index = palette_indices(tile, palette)
    assert index[0][0] == 0 and index[8][10] == 1  # white: the lowest of its two indices
    context = correction_contexts(tile, index)
    assert {c for row in context for c in row} == set(range(6))
    assert context[2][2] == 2 and context[1][9] == 0 and context[0][8] == 1  # the stray ones
    assert neighbour_list(tile, index, 6, 1) == [2, 104]  # blue, then black: white is its own
    rng = np.random.default_rng(5)
    tables = {c: random_table(rng) for c in range(6)}
    targets = {(2, 2): 0, (0, 8): 1, (1, 9): 1, (4, 6): 2, (6, 1): 104, (5, 2): 0, (8, 1): 150,
               (7, 4): 104, (4, 5): 199, (3, 7): 2, (0, 0): 1}
    coded = [0, 1, 2, 4, 5]  # context 3 (flat palette colour) is not coded
    string, expected = hand_built_string(tile, palette, targets, coded, tables)
    expected[0, 0] = tile[0, 0]  # (0, 0) is in context 3: it keeps its colour
    symbols = {(y, x): s for y, x, s in read_correction(string, context)}
    assert len(symbols) == sum(c != 3 for row in context for c in row)
    assert {symbols[p] for p in targets if p != (0, 0)} >= {1, 2, 3, 9 + 1, 9 + 150, 9 + 199}
    ours = correct_as_the_page_says(tile, palette, string)
    np.testing.assert_array_equal(ours, expected)
    np.testing.assert_array_equal(correct_theirs(tile, palette, string), expected)
    # the page's encoder writes what rpncodec's does
    flat = [[symbols.get((y, x), 0) for y in range(9) for x in range(11) if context[y][x] == c]
            for c in coded]
    words = ans.encode_groups([np.array(g) for g in flat], list(range(len(coded))),
                              ans.table_models(np.array([tables[c] for c in coded])),
                              np.zeros(len(coded), np.int64))
    assert string == bytes([0b110111]) + b"".join(struct.pack(">10H", *tables[c])
                                                  for c in coded) + words
    # an escape holding a rank's value is that rank
    as_escape, _ = hand_built_string(tile, palette, targets, coded, tables, {(6, 1): 2})
    np.testing.assert_array_equal(correct_ours(tile, palette, as_escape), expected)
    np.testing.assert_array_equal(correct_theirs(tile, palette, as_escape), expected)
    np.testing.assert_array_equal(correct_ours(tile, palette, b""), tile)  # changes nothing

    # a one-pixel tile (no neighbours: context 3, an empty list), coded contexts without pixels
    dot = np.array([[palette[1]]], np.uint8)
    for coded_here in ([3], [0, 3], [3, 5]):
        lone, want = hand_built_string(dot, palette, {(0, 0): 2}, coded_here, tables)
        np.testing.assert_array_equal(correct_ours(dot, palette, lone), want)
        np.testing.assert_array_equal(correct_theirs(dot, palette, lone), want)
    # keeping its only pixel writes no word: an empty ans part for one symbol is refused
    lone = hand_built_string(dot, palette, {}, [3], tables)[0]
    assert len(lone) == 21
    assert correct_ours(dot, palette, lone) is None is correct_theirs(dot, palette, lone)

    tables_end = 1 + 20 * len(coded)
    bad_sum = bytearray(string)
    bad_sum[2] ^= 1  # table 1's keep frequency one off
    zero_entry = bytearray(string)
    zero_entry[1:5] = struct.pack(">2H", tables[1][0] + tables[1][1], 0)
    variants = [
        bytes([string[0] | 0x40]) + string[1:], bytes([string[0] | 0x80]) + string[1:],
        bytes([0]) + string[1:], bytes([0]), string[:1], string[:tables_end - 1],
        string[:tables_end], string + bytes(4), string + b"\1\0\0\0", string[:-1], string[:-4],
        bytes(bad_sum), bytes(zero_entry),
        hand_built_string(tile, palette, targets, coded, tables, {(6, 1): 3})[0],  # rank 3 of 2
        hand_built_string(tile, palette, targets, coded, tables, {(1, 9): 8})[0],  # rank 8
        hand_built_string(tile, palette, targets, coded, tables, {(2, 2): 9 + len(palette)})[0],
        hand_built_string(tile, palette, targets, coded, tables, {(2, 2): 2**62})[0],
        hand_built_string(tile, palette, targets, list(range(6)), {**tables, 3: [1] * 9
                                                                   + [2**16 - 9]})[0],
    ]
    assert all(correct_ours(tile, palette, v) is None for v in variants[:-1])  # the last: valid
    for _ in range(40):
        flipped = bytearray(string)
        flipped[rng.integers(len(flipped))] ^= 1 << int(rng.integers(8))
        variants.append(bytes(flipped))
    refused = 0
    for data in variants:
        ours, theirs = correct_ours(tile, palette, data), correct_theirs(tile, palette, data)
        assert (ours is None) == (theirs is None), data
        if ours is not None:
            np.testing.assert_array_equal(ours, theirs)
        refused += ours is None
    assert refused > 30


def test_a_negative_escape_names_no_colour() -> None:
    """An escape whose value is below 0 is no symbol of step 6: the page's reader refuses it,
    as it refuses one beyond the palette."""
    tile, palette = hand_built_tile()
    tables = {c: random_table(np.random.default_rng(6)) for c in range(6)}
    string = hand_built_string(tile, palette, {}, [2], tables, {(2, 2): -1})[0]
    assert correct_ours(tile, palette, string) is None
    assert correct_theirs(tile, palette, string) is None


def test_truncating_a_version_5_file_keeps_the_masks_low_bits(corrected_files, screen) -> None:
    """``truncate`` to k layers keeps bits 0..k-1 of the mask; with none left the file is
    version 4, 2 header bytes shorter, its kept tile strings read as version 4's. Built here: a
    file whose layers 1-2 carry no corrections (mask 0b1100) from a real one."""
    data = corrected_files["one tile"]
    header, size = read_header(data)
    assert header["corrected"] == 0b1111
    chunks, _ = read_chunks(data)
    bare = [chunk(join_tiles([split_learned(t)[0] for t in split_tiles(c, tile_count(data))]))
            for c in chunks[:2]]
    body = data[:size - 6] + struct.pack(">H", 0b1100)
    partial = body + struct.pack(">I", zlib.crc32(body)) + b"".join(bare) + \
        b"".join(chunk(c) for c in chunks[2:])
    assert read_header(partial)[0]["corrected"] == 0b1100
    for original, expected in ((data, [0b1, 0b11, 0b111, 0b1111]),
                               (partial, [None, None, 0b100, 0b1100])):
        for k, mask in enumerate(expected, 1):
            cut = bitstream.truncate(original, k)
            cut_header, cut_size = read_header(cut)
            assert cut[4] == (4 if mask is None else 5)
            assert cut_header["corrected"] == (mask or 0)
            assert cut_header["palette"] == header["palette"]
            assert cut_header["radii"] == header["radii"][:k]
            assert cut_size == bitstream.header_size(header["name"], k, len(header["palette"]),
                                                     mask is not None)
            assert cut[cut_size:] == b"".join(chunk(c) for c in read_chunks(original)[0][:k])
            np.testing.assert_array_equal(decode_as_the_page_says(cut, k, screen)[0],
                                          codec.decode(original, k, screen).image)
    # the uncorrected layers of the partial file show what the snapping alone gives
    ours, snapped, symbols = decode_as_the_page_says(partial, 2, screen)
    assert not symbols and (ours == snapped).all()


# --- residual layers (version 6) ----------------------------------------------------------------

DIAGONAL = ((-1, -1), (-1, 1), (1, -1), (1, 1))
CROSS = ((-1, 0), (0, -1), (0, 1), (1, 0))  # above, left, right, below
SQUARE = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))  # itself included
STEPS = (1, 2, 7, 52, 255)
PARTS = 7
HEAD = 4 * (PARTS - 1)  # six u32 lengths


def largest_q(step: int) -> int:
    """M, the largest |q| at step d: floor((255 + floor(d / 2)) / d)."""
    return (255 + step // 2) // step


@functools.cache
def residual_table(z: int, a: int, t: int, reach: int) -> tuple[list[int], int]:
    """Step 3: a context's frequencies over -r..r and the escape, and the largest value the
    construction meets on the way (the page says below 2^64)."""
    tail = [4096]
    for _ in range(1, reach - 1):
        tail.append(tail[-1] * (t + 1) // 256)
    tail = tail[:reach - 1]  # none when r = 1
    total = 2 * sum(tail)
    one = total * a * a // 32 if reach >= 2 else 4096
    zero = (2 * one + total) * z * z // 16
    w = [*tail[::-1], one, zero, one, *tail, 0]
    n = len(w)
    assert n == 2 * reach + 2
    total_w = sum(w)
    products = [v * (2**16 - n) for v in w]
    f = [1 + p // total_w for p in products]
    f[reach] += 2**16 - sum(f)
    return f, max([*products, total_w, total * a * a, (2 * one + total) * z * z])


def green_part(y: int, x: int) -> int:
    """Step 1: which of parts 0-4 codes the green symbol of the pixel at row y, column x."""
    if y % 4 == 0 and x % 4 == 0:
        return 0
    if y % 4 == 2 and x % 4 == 2:
        return 1
    if (y % 4, x % 4) in ((0, 2), (2, 0)):
        return 2
    if y % 2 and x % 2:
        return 3
    assert (y + x) % 2  # "every other pixel": exactly one of y and x odd
    return 4


def residual_pixels(part: int, h: int, w: int) -> list[Pixel]:
    """Step 1: a part's pixels in row-major order (parts 5 and 6: every pixel)."""
    return [(y, x) for y in range(h) for x in range(w) if part > 4 or green_part(y, x) == part]


def residual_context(part: int, y: int, x: int, green: list[list[int | None]],
                     red: list[list[int | None]]) -> int:
    """Step 2: a pixel's context in a part, from the symbols decoded before it: G (None where
    not yet decoded; reading one of those fails) and R'."""
    h, w = len(green), len(green[0])

    def g(yy: int, xx: int) -> int:
        if not (0 <= yy < h and 0 <= xx < w):
            return 0
        assert green[yy][xx] is not None, "a context reads a symbol not yet decoded"
        return int(green[yy][xx] != 0)

    if part == 0:
        return 0
    if part < 5:
        d = 2 if part < 3 else 1
        around = DIAGONAL if part in (1, 3) else CROSS
        return 1 + 5 * (part - 1) + sum(g(y + d * dy, x + d * dx) for dy, dx in around)
    n = sum(g(y + dy, x + dx) for dy, dx in SQUARE)
    context = 3 * (0 if n == 0 else 1 if n <= 2 else 2 if n <= 5 else 3) \
        + min(abs(green[y][x]), 2)
    return context if part == 5 else 2 * context + (red[y][x] != 0)


def residual_parts(string: bytes) -> list[bytes]:
    """The seven parts: six u32 lengths, then the parts, the last one what remains."""
    if len(string) < HEAD:
        raise Refused(f"shorter than {HEAD} bytes")
    lengths = struct.unpack(f">{PARTS - 1}I", string[:HEAD])
    if sum(lengths) > len(string) - HEAD:
        raise Refused("lengths beyond the string")
    parts, at = [], HEAD
    for n in lengths:
        parts.append(string[at:at + n])
        at += n
    return [*parts, string[at:]]


def read_part(data: bytes, pixels: list[Pixel], contexts: list[int],
              reach: int) -> dict[Pixel, int]:
    """Steps 3 and 4: a part's tables, one per present context lowest first, then its ``ans``
    part with the present contexts as groups; an escape entry refuses it, and an empty
    ``ans`` part holds entry 0 (-r) for every symbol."""
    present = sorted(set(contexts))
    if len(data) < 3 * len(present):
        raise Refused("a part shorter than its tables")
    if pixels and len(data) == 3 * len(present):
        return dict.fromkeys(pixels, -reach)
    tables = [residual_table(*data[3 * i:3 * i + 3], reach)[0] for i in range(len(present))]
    tables = np.array(tables, np.int64).reshape(len(present), 2 * reach + 2)
    groups = [[p for p, c in zip(pixels, contexts, strict=True) if c == ctx] for ctx in present]
    values = pop_groups(data[3 * len(present):], [len(g) for g in groups],
                        list(range(len(present))), tables, np.full(len(present), reach),
                        escapes=False)
    return dict(zip(itertools.chain(*groups), values, strict=True))


def residual_q(h: int, w: int, step: int, string: bytes) -> np.ndarray:
    """Steps 1-5 of an h x w tile's residual string: q (h x w x 3, R G B). Nothing here
    sees the layer below."""
    m = largest_q(step)
    parts = residual_parts(string)
    planes = [[[None] * w for _ in range(h)] for _ in range(3)]  # G, R', B'
    for part, data in enumerate(parts):
        pixels = residual_pixels(part, h, w)
        contexts = [residual_context(part, y, x, planes[0], planes[1]) for y, x in pixels]
        plane = planes[max(part - 4, 0)]
        for (y, x), v in read_part(data, pixels, contexts, m if part < 5 else 2 * m).items():
            plane[y][x] = v
    green, red, blue = (np.array(p, np.int64).reshape(h, w) for p in planes)
    q = np.stack([red + green, green, blue + green], -1)
    if np.abs(q).max() > m:
        raise Refused("a residual beyond M")
    return q


def residual_as_the_page_says(shown: np.ndarray, step: int, string: bytes) -> np.ndarray:
    """A residual layer's tile at step ``step`` over the tile ``shown`` of the layer below:
    clip(shown + d x q, 0, 255)."""
    q = residual_q(*shown.shape[:2], step, string)
    return np.clip(shown.astype(np.int64) + step * q, 0, 255).astype(np.uint8)


def residual_symbols(q: np.ndarray) -> list[tuple[list[Pixel], list[int], list[int]]]:
    """Per part: its pixels, their contexts and their symbols, for a tile's q."""
    h, w = q.shape[:2]
    q = q.astype(np.int64)
    planes = [q[..., 1].tolist(), *((q[..., c] - q[..., 1]).tolist() for c in (0, 2))]
    out = []
    for part in range(PARTS):
        plane = planes[max(part - 4, 0)]
        pixels = residual_pixels(part, h, w)
        contexts = [residual_context(part, y, x, planes[0], planes[1]) for y, x in pixels]
        out.append((pixels, contexts, [plane[y][x] for y, x in pixels]))
    return out


def residual_string(step: int, q: np.ndarray,
                    params: dict[tuple[int, int], tuple[int, int, int]] | None = None,
                    escaped: frozenset = frozenset()) -> bytes:
    """The page's encoder: the residual string of ``q`` (h x w x 3) with the given table bytes
    per (part, context) (else (z, a, t) = (16, 16, 128)); values beyond a part's reach, and
    the (part, y, x) in ``escaped``, are written as escapes. It codes ``q`` as it is, a part
    whose symbols are all entry 0 included."""
    m = largest_q(step)
    parts = []
    for part, (pixels, contexts, symbols) in enumerate(residual_symbols(q)):
        reach = m if part < 5 else 2 * m
        present = sorted(set(contexts))
        tables = [(params or {}).get((part, c), (16, 16, 128)) for c in present]
        pushes, nibbles = [], []
        for c, table in zip(present, tables, strict=True):
            cdf = fixed_point_cdf(np.array(residual_table(*table, reach)[0]))
            for (y, x), ctx, v in zip(pixels, contexts, symbols, strict=True):
                if ctx != c:
                    continue
                if -reach <= v <= reach and (part, y, x) not in escaped:
                    pushes.append((cdf, v + reach))
                else:
                    pushes.append((cdf, 2 * reach + 1))
                    nibbles += escape_pushes(v)
        parts.append(b"".join(map(bytes, tables)) + push_all(pushes + nibbles))
    return struct.pack(f">{PARTS - 1}I", *map(len, parts[:-1])) + b"".join(parts)


def string_params(string: bytes, q: np.ndarray) -> dict[tuple[int, int], tuple[int, int, int]]:
    """The table bytes of each (part, present context) of a residual string coding ``q``."""
    out = {}
    for part, (data, (_, contexts, _)) in enumerate(zip(residual_parts(string),
                                                         residual_symbols(q), strict=True)):
        present = sorted(set(contexts))
        out |= {(part, c): tuple(data[3 * i:3 * i + 3]) for i, c in enumerate(present)}
    return out


def decode_theirs(shown: np.ndarray, step: int, string: bytes) -> np.ndarray | None:
    """rpncodec's residual layer over ``shown``; None when it calls the string damaged."""
    try:
        return residual_layers.decode(shown, step, string)
    except BitstreamError:
        return None


def decode_ours(shown: np.ndarray, step: int, string: bytes) -> np.ndarray | None:
    """The page's residual layer over ``shown``; None when it refuses the string."""
    try:
        return residual_as_the_page_says(shown, step, string)
    except Refused:
        return None


def same_verdict(shown: np.ndarray, step: int, string: bytes) -> bool:
    """Both readers refuse ``string`` or both give the same pixels; True when refused."""
    ours, theirs = decode_ours(shown, step, string), decode_theirs(shown, step, string)
    assert (ours is None) == (theirs is None), (step, string)
    if ours is not None:
        np.testing.assert_array_equal(ours, theirs)
    return ours is None


def residual_images(h: int, w: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(reference, layer below) pairs: dark glyphs on white under a blurred, noisy copy (text
    edges); noise under other noise (every |q| up to M, clipping); a flat colour under the
    same colour off by 0-2 (flat)."""
    rng = np.random.default_rng(7)
    text = np.full((h, w, 3), 255, np.int64)
    for y in range(2, h - 7, 9):
        for x in range(2, w - 5, 7):
            text[y:y + 7, x:x + 5][rng.random((7, 5)) < 0.4] = (25, 30, 120 * (x % 3))
    padded = np.pad(text, ((1, 1), (1, 1), (0, 0)), mode="edge")
    blurred = sum(padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy in (-1, 0, 1)
                  for dx in (-1, 0, 1)) // 9 + rng.integers(-3, 4, (h, w, 3))
    flat = np.full((h, w, 3), (250, 40, 184))
    return {
        "text": (text, blurred),
        "noise": (rng.integers(0, 256, (h, w, 3)), rng.integers(0, 256, (h, w, 3))),
        "flat": (flat, flat + rng.integers(0, 3, (h, w, 3)) * (rng.random((h, w, 1)) < 0.2)),
    }


@pytest.fixture(scope="module")
def residual_strings() -> dict[tuple[str, int], tuple[np.ndarray, bytes, np.ndarray]]:
    """rpncodec's residual strings of a 19x23 tile for each generated image and step:
    (layer below, string, the pixels the encoder says it decodes to)."""
    out = {}
    for name, (reference, below) in residual_images(19, 23).items():
        reference = np.clip(reference, 0, 255).astype(np.uint8)
        below = np.clip(below, 0, 255).astype(np.uint8)
        for step in STEPS:
            string, pixels = residual_layers.encode(reference, below, step)
            out[name, step] = below, string, pixels
    return out


def test_the_residual_tables_are_built_as_the_page_says() -> None:
    """Step 3's integer construction gives rpncodec's tables for every reach the steps give,
    at the corners and at random bytes, each an ANS table (entries at least 1, summing to
    2^16, n = 2r + 2), and its values stay below 2^64 as the page says."""
    rng = np.random.default_rng(8)
    reaches = sorted({r for d in range(1, 256) for r in (largest_q(d), 2 * largest_q(d))})
    assert reaches[0] == 1 and reaches[-1] == 510  # step 255 (M = 1), step 1 (M = 255, 2M)
    assert [largest_q(d) for d in STEPS] == [255, 128, 36, 5, 1]
    corners = list(itertools.product((0, 1, 255), repeat=3))
    largest = 0
    for reach in reaches:
        for z, a, t in corners + [tuple(rng.integers(0, 256, 3).tolist()) for _ in range(4)]:
            ours, biggest = residual_table(z, a, t, reach)
            largest = max(largest, biggest)
            assert len(ours) == 2 * reach + 2 and min(ours) >= 1 and sum(ours) == 2**16
            assert ours == residual_layers.table(z, a, t, reach).tolist(), (z, a, t, reach)
    assert 2**61 < largest < 2**64  # within a factor 4 of the bound: it is no loose one
    # 0 about z^2/16 times as likely as everything else, +-1 a^2/16 times as the tail
    f = residual_table(16, 8, 200, 20)[0]
    assert f[20] / (sum(f) - f[20]) == pytest.approx(16, rel=0.03)
    assert (f[19] + f[21]) / (sum(f) - f[19] - f[20] - f[21] - f[-1]) == pytest.approx(4, rel=0.03)
    assert f[-1] == 1 and f[:20] == f[21:-1][::-1]  # the escape never coded; symmetric


def test_residual_parts_and_contexts_as_the_page_says() -> None:
    """Step 1's five green parts cover the tile once each, on the lattice and then finer;
    step 2's contexts on a hand-made plane: the neighbours each part counts, at distance 2
    then 1, 0 outside the tile, part 5's four bands of the 3x3 count and |G|, part 6's bit of
    R'; parts 1-4 read only symbols of earlier parts (the reader fails otherwise)."""
    h, w = 7, 9
    parts = [residual_pixels(part, h, w) for part in range(5)]
    assert sorted(itertools.chain(*parts)) == [(y, x) for y in range(h) for x in range(w)]
    assert parts[0] == [(y, x) for y in (0, 4) for x in (0, 4, 8)]
    assert parts[1] == [(2, 2), (2, 6), (6, 2), (6, 6)]
    assert parts[2][:4] == [(0, 2), (0, 6), (2, 0), (2, 4)]
    assert len(parts[3]) == 3 * 4 and all(y % 2 and x % 2 for y, x in parts[3])
    assert len(parts[4]) == h * w - 6 - 4 - len(parts[2]) - 12
    green = [[0] * w for _ in range(h)]
    for y, x in [(0, 0), (0, 4), (4, 4), (2, 2), (0, 2), (2, 4), (1, 1), (3, 3), (5, 6), (5, 7),
                 (5, 8), (6, 6), (6, 7), (6, 8)]:
        green[y][x] = 1 if x % 3 else -3
    red = [[0] * w for _ in range(h)]
    red[3][3] = 4
    assert residual_context(0, 4, 8, green, red) == 0
    assert residual_context(1, 2, 2, green, red) == 1 + 3  # (0, 0), (0, 4), (4, 4); not (4, 0)
    assert residual_context(1, 2, 6, green, red) == 1 + 2  # (0, 4), (4, 4); not (0, 8), (4, 8)
    assert residual_context(1, 6, 2, green, red) == 1 + 1  # (4, 4); (8, 0) and (8, 4) outside
    assert residual_context(2, 0, 2, green, red) == 6 + 3  # left, right, below; above outside
    assert residual_context(2, 2, 0, green, red) == 6 + 2  # above (0, 0), right; left outside
    assert residual_context(3, 1, 3, green, red) == 11 + 4  # (0, 2), (0, 4), (2, 2), (2, 4)
    assert residual_context(3, 1, 1, green, red) == 11 + 3  # (0, 0), (0, 2), (2, 2)
    assert residual_context(4, 1, 2, green, red) == 16 + 3  # (0, 2), (1, 1), (2, 2)
    assert residual_context(4, 0, 1, green, red) == 16 + 3  # left, right, below; above outside
    assert residual_context(5, 6, 0, green, red) == 0  # nothing around, G = 0
    assert residual_context(5, 0, 0, green, red) == 3 * 1 + 2  # (0, 0), (1, 1); |G| = 3
    assert residual_context(5, 1, 2, green, red) == 3 * 2 + 0  # (0, 2), (1, 1), (2, 2)
    assert residual_context(5, 5, 7, green, red) == 3 * 3 + 1  # six around it, itself too
    assert residual_context(6, 3, 3, green, red) == 2 * (3 * 2 + 2) + 1  # 4 around, R' = 4
    assert residual_context(6, 4, 4, green, red) == 2 * (3 * 1 + 1)  # (3, 3), itself
    # part after part, as a reader decodes them, no context reads a symbol still to come
    rng = np.random.default_rng(11)
    full = (rng.integers(-2, 3, (h, w)) * (rng.random((h, w)) < 0.5)).tolist()
    planes = [[[None] * w for _ in range(h)] for _ in range(2)]  # G, R'
    contexts = []
    for part in range(PARTS):
        pixels = residual_pixels(part, h, w)
        contexts += [residual_context(part, y, x, *planes) for y, x in pixels]
        for y, x in pixels:
            planes[min(part // 5, 1)][y][x] = full[y][x]
    assert set(contexts) <= set(range(25)) and len(contexts) == 3 * h * w


@pytest.mark.parametrize("name", ["text", "noise", "flat"])
def test_residual_strings_decode_as_the_page_says(residual_strings, name: str) -> None:
    """rpncodec's residual strings at steps 1, 2, 7, 52 and 255: the page's reader gives the
    encoder's pixels exactly (step 1: the reference itself), and the page's encoder, given
    the string's own table bytes, writes the same string."""
    clipped = 0
    for step in STEPS:
        below, string, pixels = residual_strings[name, step]
        ours = residual_as_the_page_says(below, step, string)
        np.testing.assert_array_equal(ours, pixels)
        np.testing.assert_array_equal(residual_layers.decode(below, step, string), ours)
        reference = np.clip(residual_images(19, 23)[name][0], 0, 255).astype(np.uint8)
        if step == 1:
            np.testing.assert_array_equal(ours, reference)
        q = residual_q(19, 23, step, string)
        np.testing.assert_array_equal(q, residual_layers.quantize(
            reference.astype(np.int64) - below, step))  # no tile here is degenerate
        clipped += int((below + step * q != ours).sum())
        assert residual_string(step, q, string_params(string, q)) == string
    if name == "noise":
        assert clipped > 0  # clip(0, 255) at work


def test_damaged_residual_strings_are_refused_alike(residual_strings) -> None:
    """Cut strings, lengths beyond the string or pointing inside the tables, words added or
    dropped, flipped bits: the page's reader and rpncodec refuse the same strings and give
    the same pixels for the rest."""
    rng = np.random.default_rng(9)
    refused = total = 0
    for (_, step), (below, string, _) in residual_strings.items():
        lengths = list(struct.unpack(f">{PARTS - 1}I", string[:HEAD]))

        def head(*changed: int, string: bytes = string) -> bytes:
            return struct.pack(f">{PARTS - 1}I", *changed) + string[HEAD:]

        variants = [string[:HEAD - 1], string[:HEAD], string[:-1], string[:-4],
                    string + bytes(4), string + b"\1\0\0\0", head(*lengths[:5], lengths[5] + 1),
                    head(lengths[0] + 4, lengths[1] - 4, *lengths[2:]),
                    head(*lengths[:3], lengths[3] + 4, lengths[4] - 4, lengths[5]),
                    head(1, *lengths[1:]), head(2**32 - 1, *[1] * 5), bytes(HEAD)]
        for _ in range(6 if step in (2, 52) else 2):
            flipped = bytearray(string)
            flipped[rng.integers(HEAD, len(flipped))] ^= 1 << int(rng.integers(8))
            variants.append(bytes(flipped))
        for data in variants:
            refused += same_verdict(below, step, data)
            total += 1
    assert refused > 0.9 * total, (refused, total)


def test_hand_built_residual_strings() -> None:
    """Strings written by the page's encoder with chosen tables: both readers give the planes'
    pixels; a q_red of G + R' beyond M, an escape of a value beyond the reach, and an ans part
    with a word too many are refused by both."""
    rng = np.random.default_rng(10)
    shown = rng.integers(0, 256, (5, 6, 3)).astype(np.uint8)
    for step in (3, 100, 255):
        m = largest_q(step)
        q = rng.integers(-m, m + 1, (5, 6, 3))
        q[rng.random((5, 6)) < 0.4] = 0
        params = {(part, c): tuple(rng.integers(0, 256, 3).tolist()) for part in range(PARTS)
                  for c in range(25)}
        string = residual_string(step, q, params)
        want = np.clip(shown + step * q, 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(residual_as_the_page_says(shown, step, string), want)
        np.testing.assert_array_equal(decode_theirs(shown, step, string), want)
        beyond = q.copy()
        beyond[0, 1] = (m + 1, m, 0)  # G = M, R' = 1: q_red = M + 1
        beyond[1, 1] = (-m - 1, -m, m)
        escaped = q.copy()
        escaped[2, 2, 1] = m + 1  # G beyond part 1's reach: an escape
        for bad in (residual_string(step, beyond, params),
                    residual_string(step, escaped, params), string + b"\1\0\0\0"):
            assert same_verdict(shown, step, bad)


def test_an_escape_in_reach_is_refused() -> None:
    """An escape entry whose value lies in -r..r (in the lattice's part and in part 6) is
    refused by both readers, at the escape entry."""
    shown = np.full((3, 4, 3), 90, np.uint8)
    q = np.zeros((3, 4, 3), np.int64)
    q[1, 1] = (1, 1, 1)
    for escaped in ({(0, 0, 0)}, {(6, 1, 1)}):
        string = residual_string(7, q, escaped=frozenset(escaped))
        assert decode_ours(shown, 7, string) is None
        assert decode_theirs(shown, 7, string) is None
    assert same_verdict(shown, 7, residual_string(7, q)) is False  # the same without escapes


def test_a_one_pixel_tile() -> None:
    """A 1x1 tile: parts 1-4 have no symbols, so no tables and no words; both readers decode
    rpncodec's string and the page's to the same pixel, and refuse a word in an empty part."""
    shown = np.array([[[10, 200, 30]]], np.uint8)
    q = np.array([[[2, -1, 0]]])
    string = residual_string(5, q)
    assert struct.unpack(f">{PARTS - 1}I", string[:HEAD])[1:5] == (0, 0, 0, 0)
    for data in (string, residual_layers.encode(np.array([[[20, 195, 30]]], np.uint8), shown,
                                                5)[0]):
        assert len(residual_parts(data)[6]) > 0
        np.testing.assert_array_equal(residual_as_the_page_says(shown, 5, data), [[[20, 195, 30]]])
        np.testing.assert_array_equal(decode_theirs(shown, 5, data), [[[20, 195, 30]]])
    parts = residual_parts(string)
    for part in range(1, 5):
        filled = [*parts[:part], b"\1\0\0\0", *parts[part + 1:]]
        with_a_word = struct.pack(f">{PARTS - 1}I", *map(len, filled[:-1])) + b"".join(filled)
        assert same_verdict(shown, 5, with_a_word)  # no symbols: only an empty part ends


def test_the_symbols_do_not_depend_on_the_layer_below(residual_strings) -> None:
    """A string decoded over a layer below one level off in some pixels (as another backend
    may show it): both readers decode the same q, so the pixels differ exactly there, by that
    level; and the page's reader never looks at the layer below."""
    rng = np.random.default_rng(12)
    for step in (2, 7):
        below, string, pixels = residual_strings["text", step]
        q = residual_q(19, 23, step, string)
        unclipped = below + step * q
        off = rng.integers(-1, 2, below.shape) * (rng.random((*below.shape[:2], 1)) < 0.5)
        off[(unclipped < 1) | (unclipped > 254) | (below + off < 0) | (below + off > 255)] = 0
        assert (off != 0).sum() > 40
        other = (below + off).astype(np.uint8)
        for decoded in (residual_as_the_page_says(other, step, string),
                        decode_theirs(other, step, string)):
            np.testing.assert_array_equal(decoded.astype(int) - pixels, off)


def test_a_degenerate_tile_is_coded_in_empty_ans_parts_and_decodes_exactly() -> None:
    """Parts whose symbols are all entry 0 (-r), which ANS codes in no words: every green part
    of white under black (steps 1, 2, 255), part 5 where red and green swap at step 1 (every
    R' is -2M). rpncodec writes tables and no words there, and both readers decode the string
    to the same pixels: the reference itself at step 1."""
    white, black = np.full((9, 10, 3), 255, np.uint8), np.zeros((9, 10, 3), np.uint8)
    red, green = black.copy(), black.copy()
    red[..., 0] = green[..., 1] = 255
    cases = [*((white, black, s, {0, 1, 2, 3, 4}) for s in (1, 2, 255)), (red, green, 1, {5})]
    for below, reference, step, parts in cases:
        m = largest_q(step)
        plain = residual_layers.quantize(reference.astype(np.int64) - below, step)
        symbols = residual_symbols(plain)
        assert parts == {part for part, (_, _, s) in enumerate(symbols)
                         if set(s) == {-m if part < 5 else -2 * m}}
        string, pixels = residual_layers.encode(reference, below, step)
        assert all(len(residual_parts(string)[part]) == 3 * len(set(symbols[part][1]))
                   for part in parts)  # tables, no words
        np.testing.assert_array_equal(residual_as_the_page_says(below, step, string), pixels)
        np.testing.assert_array_equal(decode_theirs(below, step, string), pixels)
        if step == 1:
            np.testing.assert_array_equal(pixels, reference)


COLOURS = bytes([1, 255, 255, 255, 10, 20, 30, 8, 40, 0, 0, 16, 0, 255, 255])  # K = 2, L = 4


def test_a_version_5_mask_of_0_has_check_15s_message() -> None:
    """A version-5 header whose corrected-layers mask is 0 fails check 15, with one of the
    messages the page gives that check."""
    data = forge(colours=COLOURS, mask=0)
    assert header_problem(data) == 15
    theirs = verdict(data)
    assert any(p.fullmatch(theirs[1]) for p in page_checks("rpncodec's message")[15][1]), theirs


def test_a_version_6_mask_beyond_the_layers_has_check_16s_message() -> None:
    """A version-6 header whose mask names layer 5 of 4 fails check 16 (check 15 is version
    5's), with one of the messages the page gives check 16."""
    data = forge(colours=COLOURS, mask=0b10000, steps=b"\0\0\0\x09")
    assert header_problem(data) == 16
    theirs = verdict(data)
    assert theirs[0] == REFUSED
    assert any(p.fullmatch(theirs[1]) for p in page_checks("rpncodec's message")[16][1]), theirs


def glyph_lines(height: int, width: int, seed: int) -> np.ndarray:
    """Words of random 5x8 dark glyphs in lines 12 pixels apart on white: text-like, no
    exact colours pay."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 255, np.uint8)
    for y in range(4, height - 10, 12):
        x = 4
        while x < width - 8:
            for _ in range(rng.integers(2, 7)):
                if x + 5 > width:
                    break
                image[y:y + 8, x:x + 5][rng.random((8, 5)) < 0.45] = (20, 20, 20)
                x += 6
            x += 4
    return image


def with_residual_layers(data: bytes, base: int, steps: list[int], strings: list[list[bytes]],
                         radii: tuple[int, int] = (0, 0)) -> bytes:
    """The page's writer: ``data``'s layers 1..base and residual layers of the given steps and
    tile strings, under a version-6 header (tools byte, the palette and radii, ``radii`` for
    each residual layer, the mask of the kept layers if any, the steps)."""
    header, _ = read_header(data)
    n, layers = data[6], base + len(steps)
    chunks = read_chunks(data)[0][:base]
    mask = header["corrected"] & ((1 << base) - 1)
    body = MAGIC + b"\x06" + data[5:27 + n] + bytes([layers]) + bytes(header["shifts"][:layers])
    body += bytes([0b100 | bool(header["palette"]) | bool(mask) << 1])
    if header["palette"]:
        body += bytes([len(header["palette"]) - 1]) + bytes(itertools.chain(*header["palette"]))
        body += bytes(itertools.chain(*header["radii"][:base])) + bytes(radii) * len(steps)
    body += struct.pack(">H", mask) if mask else b""
    body += bytes(base) + bytes(steps)
    return body + struct.pack(">I", zlib.crc32(body)) + b"".join(
        chunk(c) for c in chunks + [join_tiles(t) for t in strings])


def tile_regions(header: dict) -> list[tuple[slice, slice]]:
    side = header["tile"]
    return [(slice(top, top + side), slice(left, left + side))
            for top in range(0, header["height"], side)
            for left in range(0, header["width"], side)]


def residual_layers_as_the_page_says(data: bytes, k: int, base: np.ndarray) -> np.ndarray:
    """Layer ``k`` of a version-6 file from ``base``, what its last learned layer b shows:
    each residual layer b + 1..k applied in turn, tile by tile."""
    header, _ = read_header(data)
    chunks, _ = read_chunks(data)
    b = learned_layers(header["steps"], header["layers"])
    assert header["shifts"][b - 1:] == [header["shifts"][b - 1]] * (header["layers"] - b + 1)
    shown = base.copy()
    for j in range(b + 1, k + 1):
        strings = split_tiles(chunks[j - 1], tile_count(data))
        for region, string in zip(tile_regions(header), strings, strict=True):
            shown[region] = residual_as_the_page_says(shown[region], header["steps"][j - 1],
                                                      string)
    return shown


@pytest.fixture(scope="module")
def residual_files(screen) -> dict[str, tuple[bytes, np.ndarray]]:
    """Real version-6 files and their images, one per tools byte: flat colour (the golden
    file, ``flat_source`` in 64-pixel tiles: exact colours, a step of 36, two tiles), flat
    rectangles (every tool: step 1 on a corrected layer) and text (no exact colours: step
    255); and one written here from the golden file's layers 1-2, with two residual layers
    (steps 7 then 1) from rpncodec's encoder, whose radii are not 0 (they are not used)."""
    images = {"rectangles": flat_rectangles(64, 96, 2), "text": glyph_lines(48, 96, 0)}
    files = {name: (codec.encode(image, screen), image) for name, image in images.items()}
    golden = Path(__file__).parent / "golden" / "residual-layers" / "rpn-quality-screen.rpn"
    data, image = files["flat colour"] = (golden.read_bytes(), flat_source())
    shown, strings = codec.decode(data, 2, screen).image, []
    for step in (7, 1):
        strings.append([])
        for region in tile_regions(read_header(data)[0]):
            string, shown[region] = residual_layers.encode(image[region], shown[region], step)
            strings[-1].append(string)
    files["two residual layers"] = (with_residual_layers(data, 2, [7, 1], strings, (200, 9)),
                                    image)
    return files


@pytest.mark.parametrize("name, tools, steps, mask", [
    ("flat colour", 0b101, [0, 0, 0, 36], 0), ("rectangles", 0b111, [0, 0, 0, 1], 0b110),
    ("text", 0b100, [0, 0, 0, 255], 0), ("two residual layers", 0b101, [0, 0, 7, 1], 0)])
def test_residual_layers_decode_as_the_page_says(residual_files, screen, name: str, tools: int,
                                                 steps: list[int], mask: int) -> None:
    """The page's reader finds the tools byte, the fields it names and the steps (what
    rpncodec parses), and decodes each residual layer's tile strings over rpncodec's image of
    the last learned layer b to rpncodec's image of every layer above it, radii unused (an
    encoder writes 0, 0); step 1 gives the image itself."""
    data, image = residual_files[name]
    header, size = read_header(data)
    theirs = bitstream.parse(data).header
    assert data[4] == theirs.version == 6
    assert (header["tools"], header["steps"], header["corrected"]) == (tools, steps, mask)
    assert (list(theirs.steps), theirs.corrected, theirs.radii) == (steps, mask,
                                                                     tuple(header["radii"]))
    assert bytes(itertools.chain(*header["palette"])) == theirs.palette
    assert size == bitstream.header_size(header["name"], header["layers"],
                                         len(header["palette"]), bool(mask), True)
    b = learned_layers(header["steps"], header["layers"])
    if header["palette"]:  # rpncodec writes 0, 0; the file written here 200, 9
        assert set(header["radii"][b:]) == {(200, 9) if name == "two residual layers" else (0, 0)}
    base = codec.decode(data, b, screen).image
    if mask >> (b - 1) & 1:  # the page's snapping and corrections of layer b, too
        np.testing.assert_array_equal(decode_as_the_page_says(data, b, screen)[0], base)
    for k in range(b + 1, header["layers"] + 1):
        ours = residual_layers_as_the_page_says(data, k, base)
        np.testing.assert_array_equal(codec.decode(data, k, screen).image, ours)
        if header["steps"][k - 1] == 1:  # lossless (rectangles: layer b already was)
            np.testing.assert_array_equal(ours, image)
        else:
            assert not (ours == base).all()  # the residual layer changes pixels
            if set(header["radii"][b:]) == {(200, 9)}:  # snapping with them would show
                snapped = snap_as_the_page_says(ours, header["palette"], 200, 9)
                assert not (snapped == ours).all()


def test_a_damaged_residual_string_damages_its_layer(residual_files, screen) -> None:
    """A residual tile string the page's reader refuses, in an intact chunk: rpncodec calls
    that layer damaged, naming the tile, and the layers below still decode."""
    data, _ = residual_files["two residual layers"]
    start, end = bitstream.parse(data).byte_ranges[2]
    strings = split_tiles(data[start + 8:end], 2)
    bad = strings[1][:-4]
    below = codec.decode(data, 2, screen).image[:, 64:]
    assert decode_ours(below, 7, strings[1]) is not None and decode_ours(below, 7, bad) is None
    damaged = data[:start] + chunk(join_tiles([strings[0], bad])) + data[end:]
    assert read_chunks(damaged)[1] is None
    np.testing.assert_array_equal(codec.decode(damaged, 2, screen).image,
                                  codec.decode(data, 2, screen).image)
    for k in (3, 4):
        with pytest.raises(BitstreamError) as caught:
            codec.decode(damaged, k, screen)
        assert re.fullmatch(r"layer 3 of 4 is damaged \(tile 2 of 2: damaged layer payload "
                            r"\(.+\)\); layers 1-2 decode \(use --layers 2\)",
                            str(caught.value)), str(caught.value)


def test_truncating_a_version_6_file(residual_files) -> None:
    """``truncate`` keeps version 6 while a residual layer is left, with the first k steps;
    below that the file is what the rest holds (version 5, 4 or 3, 1 + L header bytes fewer),
    its chunks kept byte for byte."""
    expected = {"rectangles": [4, 5, 5, 6], "two residual layers": [4, 4, 6, 6],
                "text": [3, 3, 3, 6]}
    for name, versions in expected.items():
        data, _ = residual_files[name]
        header, _ = read_header(data)
        for k, version in enumerate(versions, 1):
            cut = bitstream.truncate(data, k)
            cut_header, cut_size = read_header(cut)
            assert cut[4] == version, (name, k)
            assert cut_header["steps"] == (header["steps"][:k] if version == 6 else [])
            assert cut_header["corrected"] == header["corrected"] & ((1 << k) - 1)
            assert cut_header["radii"] == header["radii"][:k]
            assert cut_header["palette"] == header["palette"]
            assert cut_header["tools"] == (0b100 if version == 6 else 0) \
                | bool(header["palette"]) | bool(cut_header["corrected"]) << 1
            assert cut_size == bitstream.header_size(header["name"], k, len(header["palette"]),
                                                     bool(cut_header["corrected"]),
                                                     version == 6)
            assert cut[cut_size:] == b"".join(chunk(c) for c in read_chunks(data)[0][:k])
