"""docs/format.md is a specification: a reader written from it alone (struct, zlib and
constriction, no rpncodec parser) must read what rpncodec writes. These tests are that reader
for the container, the tile table, a factorized level's ANS string (escapes included) and the
table-index rule, so the page cannot drift from the code."""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from pathlib import Path

import constriction
import numpy as np
import torch

from rpncodec import bitstream, codec
from rpncodec.entropy import coding
from rpncodec.utils.testing import smooth_image

NIBBLE = constriction.stream.model.Uniform(16)


def read_header(data: bytes) -> tuple[dict, int]:
    """The header as docs/format.md lays it out, and its size."""
    assert data[:4] == b"\x89RPN" and data[4] == 2
    n = data[6]
    name = data[7:7 + n].decode("ascii")
    digest, height, width, tile, layers = struct.unpack(">8sIIIB", data[7 + n:28 + n])
    (crc,) = struct.unpack(">I", data[28 + n:32 + n])
    assert crc == zlib.crc32(data[:28 + n])
    return dict(mode=data[5], name=name, digest=digest, height=height, width=width, tile=tile,
                layers=layers), 32 + n


def read_chunks(data: bytes, pos: int, layers: int) -> list[bytes]:
    chunks = []
    for _ in range(layers):
        length, crc = struct.unpack(">II", data[pos:pos + 8])
        payload = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(payload) == crc
        chunks.append(payload)
        pos += 8 + length
    return chunks


def split_tiles(payload: bytes, tiles: int) -> list[bytes]:
    lengths = struct.unpack(f">{tiles - 1}I", payload[:4 * (tiles - 1)])
    out, at = [], 4 * (tiles - 1)
    for n in lengths:
        out.append(payload[at:at + n])
        at += n
    return [*out, payload[at:]]


def pop_groups(data: bytes, counts: list[int], tables: list[int], freqs: np.ndarray,
               offsets: np.ndarray) -> list[int]:
    """An ``ans`` part: every group in order, then each escape's nibbles (docs/format.md)."""
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, dtype="<u4").copy())
    symbols, escaped = [], []
    for count, t in zip(counts, tables, strict=True):
        row = freqs[t]
        n = int(np.flatnonzero(row)[-1]) + 1
        model = constriction.stream.model.Categorical(row[:n].astype(np.float64), perfect=False)
        for entry in coder.decode(model, count).tolist():
            if entry == n - 1:
                escaped.append(len(symbols))
            symbols.append(entry - int(offsets[t]))
    for i in escaped:
        count = int(coder.decode(NIBBLE, 1)[0]) + 1
        u = sum(int(v) << (4 * k) for k, v in enumerate(coder.decode(NIBBLE, count)))
        symbols[i] = u >> 1 if u % 2 == 0 else -((u + 1) >> 1)
    return symbols


def test_container_tiles_and_a_factorized_level(tiny, tiny_model_path: str) -> None:
    image = smooth_image(80, 130)
    data = codec.encode(image, tiny, tile=64)
    header, pos = read_header(data)
    assert header["name"] == "tiny-q" and header["mode"] == 0
    assert header["digest"] == hashlib.sha256(Path(tiny_model_path).read_bytes()).digest()[:8]
    assert (header["height"], header["width"], header["tile"]) == (80, 130, 64)
    chunks = read_chunks(data, pos, header["layers"])
    grid = [(top, left, min(64, 80 - top), min(64, 130 - left))
            for top in range(0, 80, 64) for left in range(0, 130, 64)]
    assert len(grid) == 6
    strings = split_tiles(chunks[0], len(grid))
    assert strings == bitstream.split_tiles(chunks[0], len(grid))

    state = torch.load(tiny_model_path, weights_only=True)["state_dict"]
    offsets = state["levels.0.latent_codec.bottleneck.offsets"].numpy()
    freqs = state["levels.0.latent_codec.bottleneck.freqs"].numpy()
    channels = len(offsets)
    tables = tiny.model.levels[0].latent_codec.bottleneck.coding_models()
    for (_, _, th, tw), string in zip(grid, strings, strict=True):
        h, w = math.ceil(th / 16), math.ceil(tw / 16)  # quality mode: pad_multiple 16
        ours = pop_groups(string, [h * w] * channels, list(range(channels)), freqs, offsets)
        theirs = coding.decode_by_channel(string, channels, (h, w), tables, offsets)
        assert ours == theirs.reshape(-1).tolist()


def test_escapes_follow_the_documented_order(tiny, tiny_model_path: str) -> None:
    state = torch.load(tiny_model_path, weights_only=True)["state_dict"]
    offsets = state["levels.0.latent_codec.bottleneck.offsets"].numpy()
    freqs = state["levels.0.latent_codec.bottleneck.freqs"].numpy()
    tables = tiny.model.levels[0].latent_codec.bottleneck.coding_models()
    rng = np.random.default_rng(0)
    symbols = rng.integers(-3, 4, size=(len(offsets), 3, 5))
    symbols[0, 0, 0], symbols[2, 1, 3], symbols[-1, 2, 4] = 2**40, -70000, 17
    data = coding.encode_by_channel(symbols, tables, offsets)
    ours = pop_groups(data, [15] * len(offsets), list(range(len(offsets))), freqs, offsets)
    assert ours == symbols.reshape(-1).tolist()


def test_table_index_rule() -> None:
    """index(sigma) = the first of the 64 scales at least sigma, clamped at both ends. The page
    lists the scales' exact float64 values (generated from ``coding.SCALES``); the formula it
    gives for them holds to the last bits, which differ between math libraries."""
    scales = coding.SCALES
    formula = np.exp(np.log(0.11) + np.arange(64) * (np.log(64) - np.log(0.11)) / 63)
    assert np.allclose(formula, scales, rtol=1e-13, atol=0)
    sigma = np.concatenate([np.exp(np.random.default_rng(1).uniform(-4, 5, 5000)),
                            scales, np.nextafter(scales, 0), np.nextafter(scales, np.inf)])
    documented = np.array([min([i for i in range(64) if scales[i] >= s] or [63]) for s in sigma])
    assert (coding.scale_indices(sigma) == documented).all()
