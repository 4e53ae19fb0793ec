"""Mutation fuzzing of the ``.rpn`` container and decoder.

A bounded campaign: take real encoded files, damage them (:func:`mutations`), decode each mutant
with :func:`rpncodec.codec.decode` twice (all layers, and a random count 1..model layers) and
classify every decode:

- ``decoded``: a uint8 image of the size the mutant's header declares (the original size, or
  a declared size after a header mutation), with the layer count asked for. Each is compared
  with a decode of the unmutated source at the same layer count (:data:`DECODED_KINDS`):
  ``same pixels`` (the mutation did not matter, e.g. bytes after the last chunk), ``flagged``
  (other pixels, but the decoder reported a truncated or damaged file and decoded fewer
  layers, as the command line warns), or ``silent`` (other pixels or another size, with
  nothing reported: damage that got past every check);
- ``clean error``: an :class:`~rpncodec.errors.RpncodecError` subclass (the contract);
- ``crash``: any other exception;
- ``wrong output``: decode returned, but not such an image;
- ``slow``: a decode over the per-case limit (``case_limit_s``, 5 s); one still running after
  four times that is interrupted (a hang), when the campaign runs in the main thread;
- ``too large``: not decoded, see below.

Crashes, wrong outputs and slow cases are failures: each is written to ``record_dir`` as
``case-NNNNN.rpn`` (the mutant) and ``case-NNNNN-layers-K.json`` (outcome, exception type,
message and traceback, mutations applied, model digest) so it can be replayed with
``rpncodec decode case-NNNNN.rpn -o out.png --model WEIGHTS.pt [--layers K]`` (the command
line copies the weights it used to ``WEIGHTS.pt`` there).

Mutations: bit flips, byte insertions and deletions, truncations (anywhere and near chunk
boundaries), length fields set to extremes (a chunk's length u32, or the header's name length,
height or width, to 0, 1, 2**31-1, 2**32-1), chunks reordered or duplicated, header fields
changed with the header CRC recomputed (the CRC otherwise rejects nearly every header
mutation), and layer payloads changed with the chunk length and CRC recomputed, so that the
entropy decoder and the network see damaged data. Generic mutations are followed, in a share of
cases, by recomputing the header CRC and/or every chunk CRC.

Declared size: a header can declare up to ``bitstream.MAX_PIXELS`` (16384 x 16384) pixels;
the decoder refuses more than twice :data:`rpncodec.limits.MAX_IMAGE_PIXELS` at once and
decodes the rest, running the network over every tile of that size (memory is bounded by the
tile and the output image, but it takes minutes). So the CRC-fixed size mutations generated
here declare at most ``MAX_MUTANT_SIDE`` (1024) per side, keeping a case within seconds, except
a small share that deliberately declares the largest sizes. A mutant whose (valid) header
declares more than ``max_pixels`` (default 1024 x 1024) but that the decompression limit would
let through is not decoded but counted as ``too large`` and listed in the result's
``too_large`` (it is not a failure: it documents what the decoder would accept); one above the
limit is decoded, to check that it is refused.

Tiles: the default files include one coded in 64 x 64 tiles (several tiles per layer), so the
tile tables and the tile header field (mutated to valid and invalid sides) are exercised.

Command line: ``python -m rpncodec.utils.fuzz --cases N --seed S`` fuzzes three small images encoded
with a tiny random model (or ``--model``, a shipped name or a weights file, and ``--rpn``
files) on ``--backend`` torch or onnx, prints the counts (``--json FILE`` also writes them) and
exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import zip_longest
from pathlib import Path

import numpy as np

from .. import bitstream, codec
from ..backend import BACKENDS, Coder, open_model
from ..bitstream import level_size
from ..errors import RpncodecError
from ..limits import pixel_limit
from .testing import smooth_image, tiny_model

EXTREMES = (0, 1, 2**31 - 1, 2**32 - 1)
MAX_MUTANT_SIDE = 1024  # largest side a CRC-fixed size mutation declares (but EXTREME_SIZES)
MAX_DECODE_PIXELS = 1024 * 1024  # guard: a valid header declaring more is not decoded
CASE_LIMIT_S = 5.0
OUTCOMES = ("decoded", "clean error", "crash", "wrong output", "slow", "too large")
FAILURES = ("crash", "wrong output", "slow")
DECODED_KINDS = ("same pixels", "flagged", "silent")  # what a "decoded" outcome gave

# Header layout: bitstream.HEADER_FIXED (magic, version, mode, name length) | name |
# bitstream.HEADER_TAIL (digest, height, width, tile, layers) | one shift byte per layer
# (version 3) | CRC32 (bitstream.U32). Offsets are derived from those structs, so the layout is
# written only in bitstream.py.
_VERSION_AT = len(bitstream.MAGIC)
_MODE_AT = _VERSION_AT + 1
_NAME_LEN_AT = _MODE_AT + 1
_NAME_AT = bitstream.HEADER_FIXED.size
_DIGEST, _HEIGHT, _WIDTH, _TILE, _LAYERS = range(5)  # HEADER_TAIL's fields, in order
_TILES = (0, 1, 63, 64, 65, 128, 192, 1024, bitstream.MAX_TILE, bitstream.MAX_TILE + 64, 2**32 - 1)
# (height, width, tile) of the files the command line fuzzes: one tile, and several tiles
SOURCES = ((48, 80, bitstream.DEFAULT_TILE), (32, 32, bitstream.DEFAULT_TILE), (80, 136, 64))
_U32 = bitstream.U32

Buf = bytearray
Mutation = Callable[[Buf, random.Random], tuple[Buf, str]]


# -- layout --------------------------------------------------------------------------------------
def _header_size(buf: Buf) -> int | None:
    """Size of the header as its name length byte says, or None if the file is shorter."""
    if len(buf) <= _NAME_LEN_AT:
        return None
    tail_end = _NAME_AT + buf[_NAME_LEN_AT] + bitstream.HEADER_TAIL.size
    if buf[_VERSION_AT] >= 3:  # the shift bytes: as many as the layer count says
        if tail_end > len(buf):
            return None
        tail_end += buf[tail_end - 1]
    size = tail_end + _U32.size
    return size if size <= len(buf) else None


def _tail(buf: Buf) -> list:
    """The header's tail fields (digest, height, width, tile, layers) as the name length byte
    places them; the caller has checked that the header is whole."""
    return list(bitstream.HEADER_TAIL.unpack_from(buf, _NAME_AT + buf[_NAME_LEN_AT]))


def _set_tail(buf: Buf, field: int, value: int | bytes) -> None:
    """Overwrite one field of the header's tail in place (no CRC fix)."""
    fields = _tail(buf)
    fields[field] = value
    bitstream.HEADER_TAIL.pack_into(buf, _NAME_AT + buf[_NAME_LEN_AT], *fields)


def _chunks(buf: Buf) -> list[tuple[int, int]]:
    """(start, end) of each whole chunk (length, CRC and payload) after the header, best effort."""
    pos = _header_size(buf)
    spans: list[tuple[int, int]] = []
    while pos is not None and pos + bitstream.CHUNK_OVERHEAD <= len(buf):
        end = pos + bitstream.CHUNK_OVERHEAD + _U32.unpack_from(buf, pos)[0]
        if end > len(buf):
            break
        spans.append((pos, end))
        pos = end
    return spans


def _fix_header_crc(buf: Buf) -> Buf:
    size = _header_size(buf)
    if size is not None:
        buf[size - _U32.size : size] = _U32.pack(zlib.crc32(buf[: size - _U32.size]))
    return buf


def _fix_chunk_crcs(buf: Buf) -> Buf:
    for start, end in _chunks(buf):
        at = start + bitstream.CHUNK.size  # the payload; the length field stays as it is
        bitstream.CHUNK.pack_into(buf, start, end - at, zlib.crc32(buf[at:end]))
    return buf


def _chunk(payload: bytes) -> bytes:
    return bitstream.CHUNK.pack(len(payload), zlib.crc32(payload)) + payload


def _rebuild(buf: Buf, chunks: list[bytes]) -> Buf:
    """Header + ``chunks`` + whatever followed the last whole chunk."""
    spans = _chunks(buf)
    head = _header_size(buf) or 0
    tail = spans[-1][1] if spans else head
    return Buf(buf[:head] + b"".join(chunks) + buf[tail:])


def _random_bytes(rng: random.Random, n: int) -> bytes:
    fill = rng.random()
    if fill < 0.15:
        return b"\x00" * n
    if fill < 0.25:
        return b"\xff" * n
    return rng.randbytes(n)


def _small(rng: random.Random) -> int:
    return rng.choice((1, 1, 2, 3, 4, 8, 16, rng.randint(1, 64)))


# -- mutations -----------------------------------------------------------------------------------
def _flip_bits(buf: Buf, rng: random.Random) -> tuple[Buf, str]:
    n = rng.choice((1, 1, 1, 2, 3, 8))
    for _ in range(n):
        bit = rng.randrange(8 * len(buf))
        buf[bit // 8] ^= 1 << (bit % 8)
    return buf, f"flip {n} bits"


def _insert(buf: Buf, rng: random.Random) -> tuple[Buf, str]:
    pos, n = rng.randint(0, len(buf)), _small(rng)
    buf[pos:pos] = _random_bytes(rng, n)
    return buf, f"insert {n} bytes at {pos}"


def _delete(buf: Buf, rng: random.Random) -> tuple[Buf, str]:
    pos = rng.randrange(len(buf))
    n = min(_small(rng), len(buf) - pos)
    del buf[pos : pos + n]
    return buf, f"delete {n} bytes at {pos}"


def _truncate(buf: Buf, rng: random.Random) -> tuple[Buf, str]:
    marks = [m for span in _chunks(buf) for m in (span[0], span[0] + 8, span[1])]
    if marks and rng.random() < 0.5:
        cut = max(0, rng.choice(marks) + rng.choice((-4, -1, 0, 0, 0, 1, 4)))
    else:
        cut = rng.randrange(len(buf))
    return buf[:cut], f"truncate to {cut} bytes"


def _extreme_length(buf: Buf, rng: random.Random) -> tuple[Buf, str]:
    spans, head = _chunks(buf), _header_size(buf)
    target = rng.choice(("chunk", "chunk", "name", "side"))
    if target == "chunk" and spans:
        k = rng.randrange(len(spans))
        value = rng.choice(EXTREMES)
        buf[spans[k][0] : spans[k][0] + 4] = _U32.pack(value)
        fixed = rng.random() < 0.5
        if fixed:
            _fix_chunk_crcs(buf)
        return buf, f"chunk {k + 1} length = {value}" + (" (CRCs fixed)" if fixed else "")
    if head is None:
        return _flip_bits(buf, rng)
    if target == "name":
        value = rng.choice((0, 1, 64, 65, 255))
        buf[_NAME_LEN_AT] = value
        what = f"name length = {value}"
    else:
        value = rng.choice(EXTREMES)
        field = rng.choice(("height", "width"))
        _set_tail(buf, _HEIGHT if field == "height" else _WIDTH, value)
        what = f"{field} = {value}"
    if rng.random() < 0.8:
        _fix_header_crc(buf)
        what += " (CRC fixed)"
    return buf, what


def _reorder(buf: Buf, rng: random.Random) -> tuple[Buf, str]:
    chunks = [bytes(buf[a:b]) for a, b in _chunks(buf)]
    if len(chunks) < 2:
        return _flip_bits(buf, rng)
    how = rng.choice(("swap", "reverse", "rotate", "shuffle"))
    if how == "swap":
        i, j = rng.sample(range(len(chunks)), 2)
        chunks[i], chunks[j] = chunks[j], chunks[i]
    elif how == "reverse":
        chunks.reverse()
    elif how == "rotate":
        chunks = chunks[1:] + chunks[:1]
    else:
        rng.shuffle(chunks)
    return _rebuild(buf, chunks), f"chunks {how}"


def _duplicate(buf: Buf, rng: random.Random) -> tuple[Buf, str]:
    chunks = [bytes(buf[a:b]) for a, b in _chunks(buf)]
    if not chunks:
        return _flip_bits(buf, rng)
    i = rng.randrange(len(chunks))
    if rng.random() < 0.5:
        j = rng.randint(0, len(chunks))
        chunks.insert(j, chunks[i])
        what = f"chunk {i + 1} duplicated at {j + 1}"
    else:
        j = rng.randrange(len(chunks))
        chunks[j] = chunks[i]
        what = f"chunk {j + 1} replaced by chunk {i + 1}"
    buf = _rebuild(buf, chunks)
    head = _header_size(buf)
    if head is not None and rng.random() < 0.3:  # declare them all
        buf[head - 5] = min(len(chunks), 255)
        _fix_header_crc(buf)
        what += f", header layers = {min(len(chunks), 255)} (CRC fixed)"
    return buf, what


def _side(rng: random.Random) -> int:
    """A declared side, log-uniform in 1..MAX_MUTANT_SIDE."""
    return min(MAX_MUTANT_SIDE, int(2 ** rng.uniform(0, np.log2(MAX_MUTANT_SIDE) + 0.01)))


_SIDE, _REST = bitstream.MAX_SIDE, bitstream.MAX_PIXELS // bitstream.MAX_SIDE
# (height, width) at the container's limits: the longest sides (decoded when their pixel count
# is within the guard) and the largest images (above the guard: reported, not decoded).
EXTREME_SIZES = ((_SIDE, 1), (1, _SIDE), (_SIDE, 16), (17, _SIDE), (_SIDE, _REST), (_REST, _SIDE),
                 (4096, 4096), (16384, 16384))


def _header_field(buf: Buf, rng: random.Random) -> tuple[Buf, str]:
    head = _header_size(buf)
    if head is None:
        return _flip_bits(buf, rng)
    tail = _NAME_AT + buf[_NAME_LEN_AT]
    field = rng.choice(("version", "mode", "name", "digest", "size", "size", "size", "tile",
                        "tile", "layers"))
    if field == "version":
        value = rng.choice((0, 2, 255, rng.randrange(256)))
        buf[_VERSION_AT] = value
    elif field == "mode":
        value = rng.choice((0, 1, 2, 3, 255, rng.randrange(256)))
        buf[_MODE_AT] = value
    elif field == "name":
        n = rng.choice((1, 2, 8, 64, rng.randint(1, 64)))
        alphabet = b"abcXYZ019._-" if rng.random() < 0.7 else bytes(range(256))
        value = bytes(rng.choice(alphabet) for _ in range(n))
        buf[_NAME_AT:tail] = value
        buf[_NAME_LEN_AT] = n
    elif field == "digest":
        digest = bytearray(_tail(buf)[_DIGEST])
        k = rng.randrange(len(digest))
        digest[k] ^= rng.randint(1, 255)
        _set_tail(buf, _DIGEST, bytes(digest))
        value = digest.hex()
    elif field == "size":
        if rng.random() < 0.05:
            height, width = rng.choice(EXTREME_SIZES)
        else:
            old_h, old_w = _tail(buf)[_HEIGHT : _WIDTH + 1]
            roll = rng.random()
            height = _side(rng) if roll < 0.7 else old_h
            width = _side(rng) if roll > 0.3 else old_w
        _set_tail(buf, _HEIGHT, height)
        _set_tail(buf, _WIDTH, width)
        value = f"{width}x{height}"
    elif field == "tile":
        value = rng.choice(_TILES) if rng.random() < 0.8 else 64 * rng.randint(1, 40)
        _set_tail(buf, _TILE, value)
    else:
        value = rng.choice((0, 1, 2, 3, 4, 5, 16, 17, 255))
        _set_tail(buf, _LAYERS, value)
    fixed = rng.random() < 0.9
    if fixed:
        _fix_header_crc(buf)
    return buf, f"header {field} = {value}" + (" (CRC fixed)" if fixed else "")


def _payload(buf: Buf, rng: random.Random) -> tuple[Buf, str]:
    """Damage one layer payload and rewrite its length and CRC (reaches the entropy decoder)."""
    spans = _chunks(buf)
    if not spans:
        return _flip_bits(buf, rng)
    k = rng.randrange(len(spans))
    start, end = spans[k]
    payload = Buf(buf[start + 8 : end])
    how = rng.choice(("flip", "flip", "words", "cut", "extend", "random", "empty", "zero last",
                      "swap"))
    if how == "flip" and payload:
        for _ in range(rng.choice((1, 2, 8))):
            bit = rng.randrange(8 * len(payload))
            payload[bit // 8] ^= 1 << (bit % 8)
    elif how == "words" and len(payload) >= 4:
        for _ in range(rng.choice((1, 2, 4))):
            at = 4 * rng.randrange(len(payload) // 4)
            payload[at : at + 4] = _random_bytes(rng, 4)
    elif how == "cut":
        n = rng.randrange(len(payload) + 1)
        payload = payload[: n - n % 4 if rng.random() < 0.7 else n]
    elif how == "extend":
        n = rng.choice((4, 8, 64, 1, 3, rng.randint(1, 256)))
        payload += _random_bytes(rng, n)
    elif how == "random":
        n = rng.randint(0, 2 * len(payload) + 8)
        payload = Buf(_random_bytes(rng, n - n % 4 if rng.random() < 0.8 else n))
    elif how == "empty":
        payload = Buf()
    elif how == "zero last" and len(payload) >= 4:
        payload[-4:] = bytes(4)
    elif how == "swap" and len(spans) > 1:
        other = rng.choice([s for s in spans if s != spans[k]])
        payload = Buf(buf[other[0] + 8 : other[1]])
    buf[start:end] = _chunk(bytes(payload))
    return buf, f"payload {k + 1} {how} ({len(payload)} bytes, CRC fixed)"


_MUTATIONS: tuple[tuple[Mutation, int], ...] = (
    (_flip_bits, 3), (_insert, 1), (_delete, 1), (_truncate, 2), (_extreme_length, 2),
    (_reorder, 1), (_duplicate, 1), (_header_field, 4), (_payload, 5),
)


def _mutate(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """One mutant of ``data`` and the list of what was done to it."""
    buf, done = Buf(data), []
    funcs, weights = zip(*_MUTATIONS, strict=True)
    for func in rng.choices(funcs, weights, k=rng.choices((1, 2, 3), (70, 20, 10))[0]):
        if not buf:
            break
        buf, what = func(buf, rng)
        done.append(what)
    if rng.random() < 0.15:
        _fix_chunk_crcs(buf)
        done.append("chunk CRCs fixed")
    if rng.random() < 0.15:
        _fix_header_crc(buf)
        done.append("header CRC fixed")
    return bytes(buf), done


def mutations(data: bytes, rng: random.Random) -> bytes:
    """One randomly damaged copy of the ``.rpn`` file ``data`` (deterministic given ``rng``)."""
    return _mutate(data, rng)[0]


# -- campaign ------------------------------------------------------------------------------------
class Campaign(Counter):
    """Counts of outcomes (one per decode; each case decodes twice) and what was found."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cases = 0  # mutants tried (fewer than asked if the time limit was reached)
        self.seconds = 0.0
        self.failures: list[dict] = []
        self.too_large: list[tuple[int, int]] = []  # (width, height) declared and not decoded
        self.record_dir: Path | None = None
        self.decoded_kinds: Counter = Counter()  # DECODED_KINDS of the "decoded" outcomes
        self.silent: list[dict] = []  # the mutations of each silent decode

    def as_dict(self) -> dict:
        """The counts and findings, for a results file."""
        return {"cases": self.cases, "decodes": self.total(), "seconds": round(self.seconds, 1),
                "outcomes": {o: self[o] for o in OUTCOMES},
                "decoded": {k: self.decoded_kinds[k] for k in DECODED_KINDS},
                "silent": self.silent, "failures": self.failures,
                "too_large": sorted({f"{w}x{h}" for w, h in self.too_large})}


class _Hang(BaseException):
    """Raised by the alarm in a decode that runs far past its limit (not an ``Exception``, so
    no handler in the code under test can swallow it)."""


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def ring(signum, frame):
        raise _Hang

    previous = signal.signal(signal.SIGALRM, ring)
    pending, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if pending:  # someone else's alarm (e.g. a test timeout): put it back
            left = pending - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))


def _declared(data: bytes) -> tuple[int, int] | None:
    """(width, height) a mutant's valid header declares, or None if its header is invalid."""
    try:
        header = bitstream.parse(data).header
    except Exception:  # invalid (RpncodecError), or a crash in parse that decode will record
        return None
    return header.width, header.height


def _refused_above() -> float:
    """The pixel count above which the decoder refuses a file at once (twice the default
    decompression limit; infinite when it is switched off)."""
    limit = pixel_limit()
    return math.inf if limit is None else 2 * limit


def _output_problem(decoded: codec.Decoded, layers: int | None,
                    shifts: tuple[int, ...]) -> str | None:
    """What is wrong with a decode of ``layers`` by a model whose layers have ``shifts``, or
    None. Layer k decodes at 1/2**shifts[k-1] of the declared size, also from a file that
    declares fewer layers than the model has (a truncated one)."""
    header = decoded.container.header
    image = decoded.image
    shift = shifts[decoded.layers - 1] if 1 <= decoded.layers <= len(shifts) else 0
    want = (*level_size(header.height, header.width, shift), 3)  # lower layers smaller
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.shape != want:
        shape = getattr(image, "shape", None)
        return f"image {type(image).__name__} {shape} {getattr(image, 'dtype', '')}, want {want}"
    if layers is not None and decoded.layers != layers:
        return f"decoded {decoded.layers} layers, asked for {layers}"
    if not 1 <= decoded.layers <= header.layers:
        return f"decoded {decoded.layers} layers of {header.layers} declared"
    return None


def decode_outcome(data: bytes, layers: int | None, model: Coder,
                   case_limit_s: float = CASE_LIMIT_S
                   ) -> tuple[str, str, float, codec.Decoded | None]:
    """Decode once; return (outcome, detail, seconds, the decoded result when the outcome is
    ``decoded``, else None). Detail is empty for a clean decode."""
    t0 = time.perf_counter()
    decoded = None
    try:
        with _alarm(4 * case_limit_s):
            decoded = codec.decode(data, layers, model)
    except RpncodecError as exc:
        outcome, detail = "clean error", f"{type(exc).__name__}: {exc}"
    except _Hang:
        outcome, detail = "slow", f"interrupted after {4 * case_limit_s:.0f} s"
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # also a Rust panic from an extension (pyo3's PanicException)
        outcome = "crash"
        detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    else:
        problem = _output_problem(decoded, layers, model.config.layer_shifts)
        outcome, detail = ("wrong output", problem) if problem else ("decoded", "")
    seconds = time.perf_counter() - t0
    if outcome in ("decoded", "clean error") and seconds > case_limit_s:
        outcome, detail = "slow", f"{seconds:.1f} s ({outcome})"
    return outcome, detail, seconds, decoded if outcome == "decoded" else None


def _decoded_kind(decoded: codec.Decoded, reference: np.ndarray) -> str:
    """Which of :data:`DECODED_KINDS` a mutant's decode is, given the source's decode at the
    same layer count."""
    if decoded.image.shape == reference.shape and np.array_equal(decoded.image, reference):
        return "same pixels"
    container = decoded.container
    if container.truncated or container.damaged is not None:
        return "flagged"
    return "silent"


def _changed(mutant: bytes, source: bytes, multiple: int) -> list[str]:
    """What a decodable mutant changed of what a decoder reads: ``"size"`` (the declared
    width or height), ``"padded size"`` (the tiles' sizes once padded to ``multiple``, hence
    the latents' shapes), ``"layer k"`` (that layer's payload)."""
    m, s = bitstream.parse(mutant), bitstream.parse(source)

    def padded(h: bitstream.Header) -> list[tuple[int, int]]:
        return [(-(-th // multiple), -(-tw // multiple))
                for _, _, th, tw in bitstream.tile_grid(h.height, h.width, h.tile)]

    changed = []
    if (m.header.height, m.header.width) != (s.header.height, s.header.width):
        changed.append("size")
    if padded(m.header) != padded(s.header):
        changed.append("padded size")
    layers = enumerate(zip_longest(m.chunks, s.chunks), 1)  # a layer one lacks: changed
    return changed + [f"layer {k}" for k, (a, b) in layers if a != b]


def run_campaign(files: list[bytes], model: Coder, cases: int, seed: int,
                 time_limit_s: float, *, case_limit_s: float = CASE_LIMIT_S,
                 max_pixels: int = MAX_DECODE_PIXELS,
                 record_dir: str | Path | None = None) -> Campaign:
    """Decode ``cases`` mutants of ``files`` (stopping early after ``time_limit_s``) and count
    the outcomes, two per case: all layers, and a random 1..model layers.

    Failures (crash, wrong output, slow) are written to ``record_dir`` (default: a new
    temporary folder, made only if needed) and kept in ``.failures``. Mutants whose valid header
    declares more than ``max_pixels``, but not so many that the decoder refuses them at once,
    are counted ``too large`` and not decoded. Decoded mutants are compared with their source
    (``.decoded_kinds``, :data:`DECODED_KINDS`).
    """
    if not files:
        raise ValueError("run_campaign needs at least one encoded file")
    rng = random.Random(seed)
    result = Campaign()
    top = model.config.layers
    references: dict[tuple[int, int], np.ndarray] = {}  # (source, layers) -> its decode
    start = time.perf_counter()
    for case in range(cases):
        if time.perf_counter() - start > time_limit_s:
            break
        source = rng.randrange(len(files))
        mutant, done = _mutate(files[source], rng)
        choices = (None, rng.randint(1, top))
        result.cases += 1
        size = _declared(mutant)
        if size is not None and max_pixels < size[0] * size[1] <= _refused_above():
            result["too large"] += len(choices)
            result.too_large.append(size)
            continue
        for layers in choices:
            outcome, detail, seconds, decoded = decode_outcome(mutant, layers, model,
                                                               case_limit_s)
            result[outcome] += 1
            if decoded is not None:
                key = (source, decoded.layers)
                if key not in references:
                    references[key] = codec.decode(files[source], decoded.layers, model).image
                kind = _decoded_kind(decoded, references[key])
                result.decoded_kinds[kind] += 1
                if kind == "silent":
                    result.silent.append({"case": case, "layers": layers, "mutations": done,
                                          "changed": _changed(mutant, files[source],
                                                              model.pad_multiple)})
            if outcome in FAILURES:
                record = {"case": case, "seed": seed, "source": source, "layers": layers,
                          "outcome": outcome, "detail": detail, "seconds": round(seconds, 3),
                          "mutations": done, "model": model.name,
                          "digest": model.digest.hex(), "backend": model.backend}
                result.failures.append(record)
                result.record_dir = _record(result.record_dir or record_dir, record, mutant)
    result.seconds = time.perf_counter() - start
    return result


def _record(folder: str | Path | None, record: dict, mutant: bytes) -> Path:
    folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="rpncodec-fuzz-"))
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"case-{record['case']:05d}"
    layers = record["layers"]
    option = "" if layers is None else f" --layers {layers}"
    record["replay"] = f"rpncodec decode {stem}.rpn -o out.png --model WEIGHTS.pt{option}"
    (folder / f"{stem}.rpn").write_bytes(mutant)
    with open(folder / f"{stem}-layers-{layers or 'all'}.json", "w") as f:
        json.dump(record, f, indent=1)
    return folder


# -- command line --------------------------------------------------------------------------------
def print_table(result: Campaign, file=None) -> None:
    file = file or sys.stdout
    total = result.total() or 1
    print(f"{result.cases} cases, {result.total()} decodes, {result.seconds:.1f} s", file=file)
    print("outcome        decodes   share", file=file)
    for outcome in OUTCOMES:
        n = result[outcome]
        print(f"{outcome:<13}  {n:>7}  {100 * n / total:5.1f}%", file=file)
        if outcome == "decoded":
            for kind in DECODED_KINDS:
                k = result.decoded_kinds[kind]
                print(f"  {kind:<11}  {k:>7}  {100 * k / total:5.1f}%", file=file)
    if result.too_large:
        sizes = ", ".join(sorted({f"{w}x{h}" for w, h in result.too_large}))
        print(f"note: {len(result.too_large)} cases declare more than the guard's pixels and "
              f"were not decoded ({sizes}); codec.decode accepts them (tile by tile, in bounded "
              "memory, but for minutes; above rpncodec.limits.MAX_IMAGE_PIXELS with a "
              "warning)", file=file)
    for record in result.failures[:20]:
        first = record["detail"].splitlines()[0] if record["detail"] else ""
        print(f"{record['outcome']}: case {record['case']} layers={record['layers']}: {first}",
              file=file)
    if result.record_dir:
        print(f"failures recorded in {result.record_dir}", file=file)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rpncodec.utils.fuzz", description=(
        "Mutation fuzzing of .rpn files: decode damaged copies, count the outcomes, exit 1 on "
        "any crash, wrong output or slow case."))
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=3600.0, help="seconds for the campaign")
    p.add_argument("--case-limit", type=float, default=CASE_LIMIT_S, help="seconds per decode")
    p.add_argument("--max-pixels", type=int, default=MAX_DECODE_PIXELS,
                   help="do not decode mutants declaring more pixels (reported as too large)")
    p.add_argument("--model", help="shipped model name or weights .pt to encode/decode with "
                   "(default: a tiny random model, as the tests use)")
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="which backend decodes (and encodes the default sources)")
    p.add_argument("--json", help="also write the counts and findings to this JSON file")
    p.add_argument("--rpn", nargs="+", help=".rpn files to mutate (made with --model; default: "
                   "three small images encoded here, one of them tiled)")
    p.add_argument("--out", default="fuzz-out", help="folder for failures and the weights used "
                   "(made only if something fails)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    args = p.parse_args(argv)

    import torch

    from ..registry import REGISTRY, WEIGHTS_DIR

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model in REGISTRY:
            weights = WEIGHTS_DIR / REGISTRY[args.model].file
        elif args.model:
            weights = Path(args.model)
        else:
            tiny_model(tmp)
            weights = Path(tmp) / "tiny-q.pt"
        model = open_model(args.model or str(weights), args.backend, threads=args.threads)
        if args.rpn:
            files = [Path(f).read_bytes() for f in args.rpn]
        else:
            files = [codec.encode(smooth_image(h, w, i), model, tile)
                     for i, (h, w, tile) in enumerate(SOURCES)]
        result = run_campaign(files, model, args.cases, args.seed, args.time_limit,
                              case_limit_s=args.case_limit, max_pixels=args.max_pixels,
                              record_dir=out)
        if result.record_dir:
            shutil.copy(weights, out / "WEIGHTS.pt")
    print_table(result)
    if args.json:
        summary = {"model": model.name, "backend": model.backend, "seed": args.seed,
                   "sources": len(files), **result.as_dict()}
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    return 1 if any(result[o] for o in FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
