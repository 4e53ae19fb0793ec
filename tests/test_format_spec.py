"""docs/format.md is a specification: a reader written from it alone (struct, zlib and the
page's rules, no rpncodec parser and no constriction) must read what rpncodec writes and
refuse what it refuses, for the reasons the page gives. These tests are that reader: the header
and chunk checks in their documented order and with their documented errors, the tile table,
the ANS coder (fixed-point tables, state, refills, end rule) on factorized and by-scale strings
with escapes, the table-index rule, the errors of cut and damaged files, exact colours' two
snapping passes and colour corrections (version 5). So the page cannot drift from the code."""

from __future__ import annotations

import dataclasses
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

from rpncodec import bitstream, codec, colour_corrections
from rpncodec.backend import Coder, open_model
from rpncodec.entropy import ans, coding
from rpncodec.entropy.gaussian import GaussianConditional
from rpncodec.errors import BitstreamError, TruncatedError
from rpncodec.utils.testing import smooth_image

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

def header_problem(data: bytes) -> int | None:
    """The number of the first of the page's header checks that ``data`` fails, or None."""
    size = len(data)
    n = data[6] if size > 6 else 0
    checks = [
        lambda: size >= 1,
        lambda: data[:4] == MAGIC[:size],
        lambda: size <= 4 or data[4] in (2, 3, 4, 5),
        lambda: size >= 7,
        lambda: 1 <= n <= 64,
        lambda: (data[4] == 2 or size >= 28 + n)
        and (data[4] < 4 or size >= 29 + n + data[27 + n]) and size >= header_length(data),
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
    ]
    return next((i for i, ok in enumerate(checks, 1) if not ok()), None)


def header_length(data: bytes) -> int:
    """32 + n, one shift byte per layer from version 3, 1 + 3K + 2L more from version 4 and
    the 2 bytes of the corrected-layers mask in version 5."""
    n = data[6]
    layers = data[27 + n] if data[4] >= 3 else 0
    colours = data[28 + n + layers] + 1 if data[4] >= 4 else 0
    return 32 + n + layers + (1 + 3 * colours + 2 * layers if colours else 0) \
        + (2 if data[4] == 5 else 0)


def exact_colours(data: bytes) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """A version-4 or 5 header's palette and per-layer radii (empty lists before version 4)."""
    if data[4] < 4:
        return [], []
    n, layers = data[6], data[27 + data[6]]
    at = 28 + n + layers
    raw = data[at + 1:at + 1 + 3 * (data[at] + 1)]
    radii = data[at + 1 + len(raw):at + 1 + len(raw) + 2 * layers]
    return ([tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)],
            [tuple(radii[i:i + 2]) for i in range(0, len(radii), 2)])


def corrected(data: bytes) -> int:
    """A version-5 header's corrected-layers mask, the u16 just before the CRC (bit k - 1 for
    layer k); 0 before version 5."""
    if data[4] != 5:
        return 0
    end = header_length(data) - 4
    return struct.unpack(">H", data[end - 2:end])[0]


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
                radii=radii, corrected=corrected(data)), header_length(data)


def forge(mode: int = 0, name: bytes = b"tiny-q", height: int = 80, width: int = 130,
          tile: int = 64, layers: int = 4, name_length: int | None = None,
          layer_shifts: bytes | None = None, colours: bytes = b"",
          mask: int | None = None) -> bytes:
    """A version-3 header with a correct CRC, whatever its fields (shifts: all 0 unless
    given); with ``colours`` (K-1, the palette and the radii), a version-4 one; with a
    corrected-layers ``mask`` too, a version-5 one."""
    version = 5 if mask is not None else 4 if colours else 3
    body = (MAGIC + bytes([version, mode, len(name) if name_length is None else name_length])
            + name + struct.pack(">8sIIIB", bytes(8), height, width, tile, layers)
            + (bytes(layers) if layer_shifts is None else layer_shifts) + colours
            + (b"" if mask is None else struct.pack(">H", mask)))
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
    for i in range(n):
        cdf.append(total * (2**24 - n) // 2**16 + i)
        total += int(freqs[i])
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
               offsets: np.ndarray) -> list[int]:
    """An ``ans`` part: every group in order, then each escape's nibbles, then the end rule."""
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


def test_the_header_checks_come_in_the_documented_order_with_their_errors(coded) -> None:
    rows = page_checks("rpncodec's message")
    assert sorted(rows) == list(range(1, 16))
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
        forge(colours=colours, mask=0b1111), forge(colours=colours, mask=0),
        forge(colours=colours, mask=0b10000), forge(colours=colours, mask=0x8000),
        forge(layers=1, colours=bytes([0, 9, 9, 9, 4, 0]), mask=1),
        forge(layers=1, colours=bytes([0, 9, 9, 9, 4, 0]), mask=2),
        forge(mode=4, colours=colours, mask=0), forge(tile=100, colours=colours, mask=0x10),
        forge(layers=17, layer_shifts=bytes(17), colours=bytes([0, 1, 2, 3]) + bytes(34), mask=0),
        forge(layer_shifts=b"\x00\x01\x00\x00", colours=colours, mask=0x10),
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
    assert verdict(b"\x89RPN\x06") == (
        REFUSED, "unsupported .rpn format version 6 (this rpncodec reads versions 2 to 5)")
    # check 15's two messages: a mask of 0, and one naming a layer the file does not declare
    assert verdict(forge(colours=colours, mask=0)) == (
        REFUSED, "damaged .rpn header (version 5 without corrected layers)")
    assert verdict(forge(colours=colours, mask=0b10000)) == (
        REFUSED, "colour corrections need exact colours and name layers 1 to 4, not the mask 0x10")
    assert read_header(v5)[0]["corrected"] == 0b0101
    assert read_header(v5)[1] == read_header(v4)[1] + 2 == len(v5)  # 2 bytes longer


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
