"""End-of-stream checks: a layer payload that passes its CRC but is not a string an encoder
wrote (an extra word, a missing word, an empty string) is a damaged layer, on every latent codec
and both backends, and the 308-byte decompression bomb (a real header declaring 8192x8192 with
every tile string empty) is refused at its first tile."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rpncodec import bitstream, codec
from rpncodec.backend import BACKENDS, open_model
from rpncodec.entropy.ans import decode_groups, encode_groups, table_models
from rpncodec.errors import BitstreamError

GOLDEN = Path(__file__).parent / "golden"
# the shipped models' golden files cover every latent codec: factorized (rpn-quality-cpu),
# hyperprior and conditional (rpn-quality-cond), factorized then conditional in spatial mode
# (rpn-spatial-cond)
MODELS = ("rpn-quality-cpu", "rpn-quality-cond", "rpn-spatial-cond")


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    return request.param


def with_layer(data: bytes, layer: int, change) -> bytes:
    """``data`` with every tile string of ``layer`` (1-based) replaced by ``change(string)``,
    the tile table and chunk CRC rewritten so that the damage gets past the container."""
    container = bitstream.parse(data)
    header = container.header
    payloads = list(container.chunks)
    tiles = bitstream.split_tiles(payloads[layer - 1], header.tiles)
    payloads[layer - 1] = bitstream.join_tiles([change(s) for s in tiles])
    return bitstream.pack(header, payloads)


DAMAGE = {
    "a word appended": lambda s: s + bytes(4),
    "a word prepended": lambda s: bytes(4) + s,
    "its last word dropped": lambda s: s[:-4],
    "empty": lambda s: b"",
}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("how", DAMAGE)
def test_a_string_that_does_not_end_where_its_encoder_began_is_a_damaged_layer(
        name: str, how: str, backend: str) -> None:
    golden = (GOLDEN / f"{name}.rpn").read_bytes()
    loaded = open_model(name, backend)
    layers = bitstream.parse(golden).header.layers
    for k in range(1, layers + 1):
        bad = with_layer(golden, k, DAMAGE[how])
        with pytest.raises(BitstreamError, match=f"layer {k} of {layers} is damaged"):
            codec.decode(bad, k, loaded)
        if k > 1:  # the layers below still decode, as the message says
            assert codec.decode(bad, k - 1, loaded).layers == k - 1


@pytest.mark.parametrize("name", MODELS)
def test_the_308_byte_bomb_is_refused_at_its_first_tile(name: str, backend: str,
                                                        monkeypatch) -> None:
    """A real header declaring 8192x8192 (64 tiles of 1024) and one layer whose 64 tile
    strings are all empty: once accepted (13-35 s, 770 MiB), now refused before the image is
    allocated and after decoding no tile."""
    golden = (GOLDEN / f"{name}.rpn").read_bytes()
    real = bitstream.parse(golden).header
    header = replace(real, height=8192, width=8192, tile=1024, layers=1, shifts=real.shifts[:1])
    bomb = bitstream.pack(header, [bitstream.join_tiles([b""] * header.tiles)])
    assert header.tiles == 64 and len(bomb) == 293 + len(name)  # 308 bytes for rpn-quality-cpu
    loaded = open_model(name, backend)
    calls = []
    real = loaded.decode_tile
    monkeypatch.setattr(loaded, "decode_tile", lambda *a: calls.append(1) or real(*a))
    with pytest.raises(BitstreamError, match=r"layer 1 of 1 is damaged \(tile 1 of 64: "):
        codec.decode(bomb, None, loaded)
    assert len(calls) == 1


def _groups(rng: np.random.Generator) -> tuple[list, list[np.ndarray], np.ndarray]:
    freqs = np.array([[1, 60000, 5000, 534, 1, 0], [30000, 30000, 5535, 1, 0, 0]])
    models = table_models(freqs)
    offsets = np.array([1, 0])
    groups = [rng.integers(-3, 5, n) for n in (40, 25)]  # some outside the tables (escapes)
    return models, groups, offsets


def test_the_shared_ans_decoder_checks_the_end_of_every_string() -> None:
    models, groups, offsets = _groups(np.random.default_rng(0))
    counts, tables = [len(g) for g in groups], [0, 1]
    data = encode_groups(groups, tables, models, offsets)
    assert np.array_equal(decode_groups(data, counts, tables, models, offsets),
                          np.concatenate(groups))
    for bad in (data + bytes(4), bytes(4) + data, data[4:], data[:-4], b""):
        with pytest.raises(BitstreamError, match="damaged layer payload"):
            decode_groups(bad, counts, tables, models, offsets)
    # fewer symbols asked for than were coded (no escapes): words are left over
    inside = [np.clip(g, -1, 2) for g in groups]
    data = encode_groups(inside, tables, models, offsets)
    with pytest.raises(BitstreamError, match="does not end where its encoder began"):
        decode_groups(data, [counts[0], counts[1] - 1], tables, models, offsets)
    # an empty latent has an empty string
    assert decode_groups(b"", [0, 0], tables, models, offsets).size == 0
