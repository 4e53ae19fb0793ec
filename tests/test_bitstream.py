"""Tests of the .rpn container: round trips, truncation, damage, and hostile input."""

import contextlib
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpncodec import bitstream
from rpncodec.bitstream import Header, pack, parse, prefix_size, select, truncate
from rpncodec.errors import BitstreamError, RpncodecError, TruncatedError

HEADER = Header("quality", "rpn-q.v1", bytes(range(8)), 48, 64, 3)
PAYLOADS = [b"first", b"second layer", b"3"]


def packed() -> bytes:
    return pack(HEADER, PAYLOADS)


def raw_header(**fields) -> bytes:
    """A header with a valid CRC but arbitrary field values (bypassing Header validation)."""
    values = {"version": bitstream.FORMAT_VERSION, "mode": 0, "name": b"m", "digest": bytes(8)}
    values |= {"height": 4, "width": 4, "tile": 1024, "layers": 1}
    values.update(fields)
    shifts = values.get("shifts", bytes(values["layers"]) if values["version"] >= 3 else b"")
    body = (
        bitstream.HEADER_FIXED.pack(bitstream.MAGIC, values["version"], values["mode"],
                                    len(values["name"]))
        + values["name"]
        + bitstream.HEADER_TAIL.pack(values["digest"], values["height"], values["width"],
                                     values["tile"], values["layers"])
        + shifts
    )
    return body + bitstream.U32.pack(zlib.crc32(body))


def test_round_trip():
    container = parse(packed())
    assert container.header == HEADER
    assert container.chunks == PAYLOADS
    assert (container.available, container.damaged, container.truncated) == (3, None, False)
    assert select(container, None) == PAYLOADS
    assert select(container, 2) == PAYLOADS[:2]
    assert len(HEADER.to_bytes()) == bitstream.header_size(HEADER.model, 3)


def test_all_modes_round_trip():
    for mode in bitstream.MODES:
        header = Header(mode, "m", bytes(8), 1, 1, 1)
        assert parse(pack(header, [b""])).header.mode == mode


def test_byte_ranges_and_prefix_size():
    data = packed()
    container = parse(data)
    start = bitstream.header_size(HEADER.model, 3)
    for (begin, end), payload in zip(container.byte_ranges, PAYLOADS, strict=True):
        assert begin == start and end == begin + 8 + len(payload)
        start = end
    assert prefix_size(container, 3) == len(data)
    # a layer's rate counts the whole file's header (with every layer's shift byte)
    one = pack(Header("quality", "rpn-q.v1", bytes(range(8)), 48, 64, 1), PAYLOADS[:1])
    assert prefix_size(container, 1) == len(one) + 2


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_truncate_equals_pack_of_prefix(layers):
    expected = pack(
        Header("quality", HEADER.model, HEADER.digest, 48, 64, layers), PAYLOADS[:layers]
    )
    assert truncate(packed(), layers) == expected


def test_truncate_refuses_missing_layers():
    with pytest.raises(TruncatedError, match="only 1 of 3"):
        truncate(packed()[:-10], 2)
    with pytest.raises(RpncodecError, match="--layers must be between 1 and 3"):
        truncate(packed(), 4)


def test_cut_at_every_offset():
    data = packed()
    size = bitstream.header_size(HEADER.model, 3)
    ends = [end for _, end in parse(data).byte_ranges]
    for cut in range(len(data)):
        prefix = data[:cut]
        if cut < size:
            with pytest.raises(TruncatedError, match=r"empty|truncated inside its header"):
                parse(prefix)
            continue
        container = parse(prefix)
        expected = sum(end <= cut for end in ends)
        assert container.available == expected, cut
        assert container.truncated and container.damaged is None
        assert container.chunks == PAYLOADS[:expected]
        if expected:
            assert select(container, None) == PAYLOADS[:expected]
        else:
            with pytest.raises(TruncatedError, match="none of its 3 layers"):
                select(container, None)
        with pytest.raises(TruncatedError, match=f"only {expected} of 3 layers|none of its 3"):
            select(container, 3)


def test_truncated_message_suggests_layers():
    container = parse(packed()[:-1])
    with pytest.raises(TruncatedError) as info:
        select(container, 3)
    assert str(info.value) == "file is truncated: only 2 of 3 layers are complete (use --layers 2)"


def test_damaged_second_chunk():
    data = bytearray(packed())
    begin, _ = parse(bytes(data)).byte_ranges[1]
    data[begin + 8 + 3] ^= 0x40
    container = parse(bytes(data))
    assert container.damaged == 2 and container.available == 1 and not container.truncated
    assert select(container, 1) == PAYLOADS[:1]
    assert select(container, None) == PAYLOADS[:1]
    with pytest.raises(BitstreamError) as info:
        select(container, 2)
    assert str(info.value) == (
        "layer 2 of 3 is damaged (CRC mismatch); layer 1 decodes (use --layers 1)"
    )
    with pytest.raises(BitstreamError, match="layer 2 of 3 is damaged"):
        truncate(bytes(data), 3)


def test_damaged_first_chunk_with_all_layers():
    data = bytearray(packed())
    data[bitstream.header_size(HEADER.model, 3) + 8] ^= 1
    with pytest.raises(BitstreamError, match=r"layer 1 of 3 is damaged.*no layer can be decoded"):
        select(parse(bytes(data)), None)


def test_layers_out_of_range():
    container = parse(packed())
    for layers in (0, 4, -1):
        with pytest.raises(RpncodecError, match="--layers must be between 1 and 3"):
            select(container, layers)


def test_wrong_magic():
    for data in (b"\x89PNG\r\n\x1a\n" + bytes(40), b"RPN1", b"x"):
        with pytest.raises(BitstreamError, match=r"not an \.rpn file \(wrong magic\)"):
            parse(data)


@pytest.mark.parametrize("version", [1, 7])
def test_unknown_version(version):
    data = bytearray(packed())
    data[4] = version
    with pytest.raises(BitstreamError) as info:
        parse(bytes(data))
    assert str(info.value) == (
        f"unsupported .rpn format version {version} (this rpncodec reads versions 2 to 6)")
    assert not isinstance(info.value, TruncatedError)


def test_header_crc_damage():
    data = bytearray(packed())
    data[10] ^= 0x01  # inside the model name
    with pytest.raises(BitstreamError, match=r"damaged \.rpn header \(CRC mismatch\)"):
        parse(bytes(data))


def test_absurd_sizes_refused():
    for height, width in ((100000, 100000), (70000, 1), (0, 5), (40000, 40000), (16385, 16384)):
        data = raw_header(height=height, width=width) + bitstream.CHUNK.pack(0, 0)
        with pytest.raises(BitstreamError, match=r"above the limit|empty"):
            parse(data)
    assert parse(raw_header(height=16384, width=16384)).header.width == 16384
    assert parse(raw_header(height=65536, width=4096)).header.height == 65536


@pytest.mark.parametrize("tile", [0, 1, 63, 65, 100, 2048 + 64, 4096, 2**32 - 1])
def test_bad_tile_sides_refused(tile):
    with pytest.raises(BitstreamError, match=f"tile side of {tile}"):
        parse(raw_header(tile=tile))
    with pytest.raises(BitstreamError, match="tile side"):
        Header("quality", "m", bytes(8), 4, 4, 1, tile)


def test_tile_grid_covers_the_image_once():
    grid = bitstream.tile_grid(130, 300, 64)
    assert len(grid) == bitstream.tile_count(130, 300, 64) == 3 * 5
    assert grid[0] == (0, 0, 64, 64) and grid[4] == (0, 256, 64, 44)
    assert grid[-1] == (128, 256, 2, 44)
    covered = [[0] * 300 for _ in range(130)]
    for top, left, h, w in grid:
        for y in range(top, top + h):
            for x in range(left, left + w):
                covered[y][x] += 1
    assert all(v == 1 for row in covered for v in row)
    assert bitstream.tile_grid(512, 768, 1024) == [(0, 0, 512, 768)]  # Kodak: one tile


def test_header_records_the_tile_side_and_one_tile_payload_is_the_string():
    header = Header("quality", "m", bytes(8), 100, 200, 2, tile=64)
    assert header.tiles == 2 * 4
    strings = [bytes([i]) * i for i in range(8)]
    data = pack(header, [bitstream.join_tiles(strings)] * 2)
    c = parse(data)
    assert c.header.tile == 64 and c.header == header
    assert bitstream.split_tiles(c.chunks[1], 8) == strings
    assert bitstream.join_tiles([b"abc"]) == b"abc"
    assert len(header.to_bytes()) == bitstream.header_size("m", 2) == 35


def test_damaged_tile_table_keeps_the_layers_before_it():
    header = Header("quality", "m", bytes(8), 100, 200, 3, tile=64)
    good = bitstream.join_tiles([b"x"] * 8)
    short = good[:20]  # CRC is recomputed by pack, but the table no longer fits
    c = parse(pack(header, [good, short, good]))
    assert (c.available, c.damaged) == (1, 2) and "tile" in c.damage
    with pytest.raises(BitstreamError, match=r"layer 2 of 3 is damaged.*tile"):
        select(c, 2)


def test_bad_header_fields_refused():
    bad = [raw_header(mode=4), raw_header(name=b"a b"), raw_header(layers=0), raw_header(layers=17),
           raw_header(layers=2, shifts=bytes([0, 1])), raw_header(shifts=bytes([3])),
           raw_header(version=4)]
    for data in bad:
        with pytest.raises(BitstreamError):
            parse(data)


def test_header_validation():
    with pytest.raises(BitstreamError):
        Header("fast", "m", bytes(8), 1, 1, 1)
    with pytest.raises(BitstreamError):
        Header("single", "bad/name", bytes(8), 1, 1, 1)
    with pytest.raises(BitstreamError, match="70000x70000"):
        Header("single", "m", bytes(8), 70000, 70000, 1)
    with pytest.raises(ValueError, match="declares 3 layers but 2"):
        pack(HEADER, PAYLOADS[:2])


def test_trailing_bytes_are_counted():
    assert parse(packed() + b"junk").trailing == 4


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_never_crash(data):
    with contextlib.suppress(BitstreamError):
        parse(data)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4),
    st.integers(0, 200),
)
def test_mutated_file_never_crashes(flips, cut):
    data = bytearray(packed())
    for position, value in flips:
        if position < len(data):
            data[position] = value
    with contextlib.suppress(BitstreamError):
        select(parse(bytes(data[: len(data) - cut % 8])), None)


def test_layer_shifts_say_what_each_layer_is():
    for mode, shifts in [("quality", (0, 0, 0, 0)), ("spatial", (2, 1, 0)),
                         ("spatial-quality", (2, 1, 0, 0, 0))]:
        header = Header(mode, "m", bytes(8), 100, 203, len(shifts))
        assert header.shifts == shifts
        back = parse(pack(header, [b""] * len(shifts))).header
        assert back.shifts == shifts and back == header
        sizes = [bitstream.layer_size(back, k + 1) for k in range(len(shifts))]
        assert sizes == [(-(-203 // 2**s), -(-100 // 2**s)) for s in shifts]


def test_truncate_keeps_the_first_layers_shifts():
    header = Header("spatial-quality", "m", bytes(8), 64, 64, 5)
    cut = parse(bitstream.truncate(pack(header, [b"a", b"b", b"c", b"d", b"e"]), 2)).header
    assert cut.layers == 2 and cut.shifts == (2, 1)
    assert bitstream.layer_size(cut, 2) == (32, 32)


def test_impossible_shifts_refused():
    with pytest.raises(BitstreamError, match="cannot be smaller"):
        Header("quality", "m", bytes(8), 64, 64, 2, shifts=(0, 1))
    with pytest.raises(BitstreamError, match="0 to 2"):
        Header("spatial", "m", bytes(8), 64, 64, 1, shifts=(3,))
    with pytest.raises(BitstreamError, match="2 layers but 1 layer shifts"):
        Header("quality", "m", bytes(8), 64, 64, 2, shifts=(0,))


def test_version_2_files_are_read_with_the_modes_shifts():
    """Version 2 had no shift bytes: a spatial file's layers halve from its model's top level
    (a cut file of a shipped model keeps its layers' real sizes)."""
    v2 = raw_header(version=2, mode=1, name=b"rpn-spatial-cond", layers=1, height=64, width=64)
    header = parse(v2).header
    assert header.shifts == (2,) and bitstream.layer_size(header, 1) == (16, 16)
    v2 = raw_header(version=2, mode=1, name=b"other", layers=2, height=64, width=64)
    assert parse(v2).header.shifts == (1, 0)
    assert parse(raw_header(version=2, layers=3)).header.shifts == (0, 0, 0)
