"""docs/format.md is a specification: a reader written from it alone (struct, zlib and the
page's rules, no rpncodec parser and no constriction) must read what rpncodec writes and
refuse what it refuses, for the reasons the page gives. These tests are that reader: the header
and chunk checks in their documented order and with their documented errors, the tile table,
the ANS coder (fixed-point tables, state, refills, end rule) on factorized and by-scale strings
with escapes, the table-index rule, and the errors of cut and damaged files. So the page cannot
drift from the code."""

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

from rpncodec import bitstream, codec
from rpncodec.entropy import coding
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
    """``Z`` stands for a list of numbers, the other placeholders for one number (or WxH)."""
    lists = [re.split(r"\b(?:32\+n\+L|32\+n|WxH|[VSnMLTXY])\b", t) for t in template.split("Z")]
    return re.compile(r"\[[\d, ]*\]".join(r"\d+(?:x\d+)?".join(map(re.escape, parts))
                                          for parts in lists))


# --- the container, as the page lays it out -----------------------------------------------------

def header_problem(data: bytes) -> int | None:
    """The number of the first of the page's header checks that ``data`` fails, or None."""
    size = len(data)
    n = data[6] if size > 6 else 0
    checks = [
        lambda: size >= 1,
        lambda: data[:4] == MAGIC[:size],
        lambda: size <= 4 or data[4] in (2, 3, 4),
        lambda: size >= 7,
        lambda: 1 <= n <= 64,
        lambda: (data[4] == 2 or size >= 28 + n)
        and (data[4] != 4 or size >= 29 + n + data[27 + n]) and size >= header_length(data),
        lambda: struct.unpack(">I", data[header_length(data) - 4:header_length(data)])[0]
        == zlib.crc32(data[:header_length(data) - 4]),
        lambda: data[5] <= 3,
        lambda: re.fullmatch(rb"[A-Za-z0-9._-]+", data[7:7 + n]) is not None,
        lambda: image_size_ok(*fields(data)[1:3]),
        lambda: 1 <= fields(data)[4] <= 16,
        lambda: fields(data)[3] % 64 == 0 and 64 <= fields(data)[3] <= 2048,
        lambda: all(s <= 2 for s in shifts(data)),
        lambda: all(a >= b for a, b in itertools.pairwise(shifts(data))),
    ]
    return next((i for i, ok in enumerate(checks, 1) if not ok()), None)


def header_length(data: bytes) -> int:
    """32 + n, one shift byte per layer from version 3, and in version 4 1 + 3K + 2L."""
    n = data[6]
    layers = data[27 + n] if data[4] >= 3 else 0
    colours = data[28 + n + layers] + 1 if data[4] == 4 else 0
    return 32 + n + layers + (1 + 3 * colours + 2 * layers if colours else 0)


def exact_colours(data: bytes) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """A version-4 header's palette and per-layer radii (empty lists before version 4)."""
    if data[4] != 4:
        return [], []
    n, layers = data[6], data[27 + data[6]]
    at = 28 + n + layers
    raw = data[at + 1:at + 1 + 3 * (data[at] + 1)]
    radii = data[at + 1 + len(raw):at + 1 + len(raw) + 2 * layers]
    return ([tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)],
            [tuple(radii[i:i + 2]) for i in range(0, len(radii), 2)])


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
                radii=radii), header_length(data)


def forge(mode: int = 0, name: bytes = b"tiny-q", height: int = 80, width: int = 130,
          tile: int = 64, layers: int = 4, name_length: int | None = None,
          layer_shifts: bytes | None = None, colours: bytes = b"") -> bytes:
    """A version-3 header with a correct CRC, whatever its fields (shifts: all 0 unless
    given); with ``colours`` (K-1, the palette and the radii), a version-4 one."""
    body = (MAGIC + bytes([4 if colours else 3, mode,
                           len(name) if name_length is None else name_length]) + name
            + struct.pack(">8sIIIB", bytes(8), height, width, tile, layers)
            + (bytes(layers) if layer_shifts is None else layer_shifts) + colours)
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
    assert sorted(rows) == list(range(1, 15))
    good = forge()
    version2 = MAGIC + bytes([2, 0, 6]) + b"tiny-q" + struct.pack(">8sIIIB", bytes(8), 80, 130,
                                                                     64, 4)
    version2 += struct.pack(">I", zlib.crc32(version2))
    v4 = forge(colours=bytes([1, 255, 255, 255, 10, 20, 30, 8, 40, 0, 0, 16, 0, 255, 255]))
    bad_crc = good[:-1] + bytes([good[-1] ^ 1])
    cases = [
        b"", b"X", b"\x89", b"\x89RP", MAGIC, b"\x89RPX", b"\x89RPN\x05", b"\x89RPN\x01\x00",
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
                u = 2 * s if s >= 0 else -2 * s - 1
                groups = [u >> (4 * k) & 15 for k in range(max(1, -(-u.bit_length() // 4)))]
                nibbles += [(NIBBLE_CDF, len(groups) - 1)] + [(NIBBLE_CDF, g) for g in groups]
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
