"""Colour corrections (format version 5): a correction string names exactly the pixels the
encoder chose and gives them their true colours; a layer keeps its corrections only where no
layer loses at the same bytes; flat colour nears lossless; damage is refused by layer; and
truncation keeps the right layers' corrections."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import rpncodec
from rpncodec import bitstream, codec, colour_corrections
from rpncodec.backend import open_model
from rpncodec.entropy import ans
from rpncodec.errors import BitstreamError
from rpncodec.metrics import psnr
from rpncodec.remote import FileSource, RemoteRpn

COLOURS = np.array([(255, 255, 255), (251, 40, 184), (20, 90, 200), (250, 200, 30),
                    (30, 160, 70), (30, 30, 30)], np.uint8)


def grid(h: int, w: int, cell: int, seed: int = 0) -> np.ndarray:
    """Flat cells of saturated colours: every edge a chance to show the neighbour's colour."""
    cells = np.random.default_rng(seed).integers(0, len(COLOURS), (-(-h // cell), -(-w // cell)))
    return COLOURS[np.kron(cells, np.ones((cell, cell), int))[:h, :w]]


@pytest.fixture(scope="module")
def screen():
    return open_model("rpn-quality-screen")


def test_a_string_names_exactly_the_chosen_pixels_with_their_true_colours() -> None:
    reference = grid(48, 64, 8)
    rng = np.random.default_rng(3)
    shown = reference.copy()
    wrong = rng.random(reference.shape[:2]) < 0.05
    shown[wrong] = COLOURS[rng.integers(0, len(COLOURS), wrong.sum())]
    shown[rng.random(reference.shape[:2]) < 0.02] = (128, 128, 128)  # no palette colour
    string, removed = colour_corrections.choose(reference, shown, COLOURS, error_per_bit=1.0)
    assert string and string[0] >> colour_corrections.CONTEXTS == 0
    fixed = colour_corrections.correct(shown, COLOURS, string)
    changed = (fixed != shown).any(2)
    assert (fixed[changed] == reference[changed]).all()  # only ever the true colour
    assert removed == float(((reference.astype(np.int64) - shown) ** 2).sum()
                            - ((reference.astype(np.int64) - fixed) ** 2).sum()) > 0
    assert (fixed == reference).all()  # at this slope every wrong pixel pays its bits
    # at a steep slope nothing pays: no string at all
    assert colour_corrections.choose(reference, shown, COLOURS, error_per_bit=1e9) == (b"", 0.0)


def test_contexts_and_neighbour_lists_follow_their_definitions() -> None:
    shown = np.array([[[255, 255, 255], [30, 30, 30], [1, 2, 3]],
                      [[255, 255, 255], [255, 255, 255], [30, 30, 30]]], np.uint8)
    palette = np.array([(30, 30, 30), (255, 255, 255), (30, 30, 30)], np.uint8)
    ctx, pidx = colour_corrections.contexts(shown, palette)
    assert pidx.tolist() == [[1, 0, -1], [1, 1, 0]]  # duplicates: the lowest index
    # (0, 1) has 4 differing neighbours of 5, (1, 1) 3 of 5; (0, 2) shows no palette colour
    assert ctx.tolist() == [[4, 5, 1], [4, 4, 4]]
    lists = colour_corrections.neighbour_colours(pidx, np.array([1]), np.array([1]))
    assert lists[0].tolist() == [0, -1, -1, -1, -1, -1, -1, -1]  # own colour left out


def test_layers_keep_corrections_only_where_no_layer_loses() -> None:
    choose = colour_corrections.choose_layers
    assert choose([0.0, 0.0], [10, 10], [1000, 2000]) == (False, False)
    # layer 1's 500 bytes would cost layer 2 more (25% more bytes) than its own gain covers
    assert choose([10.0, 0.5], [500, 0], [1000, 2000]) == (False, True)
    assert choose([10.0, 5.0], [100, 10], [1000, 2000]) == (True, True)
    assert choose([0.01, 0.0], [100, 0], [1000, 2000]) == (False, False)


def without_corrections(data: bytes) -> bytes:
    """The version-4 file a version-5 ``data`` was before its corrections were added."""
    c = bitstream.parse(data)
    payloads = [bitstream.join_tiles([bitstream.split_correction(t)[0] for t in
                                      bitstream.split_tiles(p, c.header.tiles)])
                if c.header.is_corrected(k) else p for k, p in enumerate(c.chunks, 1)]
    return bitstream.pack(replace(c.header, corrected=0), payloads)


def test_flat_colour_nears_lossless_and_no_layer_loses_at_the_same_bytes(screen) -> None:
    image = grid(96, 128, 8)
    data = codec.encode(image, screen, residual=False)
    header = bitstream.parse(data).header
    assert header.version == 5 and header.corrected
    assert rpncodec.info(data).corrected_layers == tuple(
        k for k in range(1, 5) if header.is_corrected(k))
    snapped = without_corrections(data)
    assert snapped[4] == 4 and codec.encode(image, screen, exact=False, residual=False)[4] == 3
    ends = [e for _, e in bitstream.parse(data).byte_ranges]
    snapped_ends = [e for _, e in bitstream.parse(snapped).byte_ranges]
    top = psnr(image, codec.decode(data, 4, screen).image)
    assert top >= 45 and ends[-1] <= 1.3 * snapped_ends[-1], (top, ends, snapped_ends)
    for k in range(1, 5):  # each layer gains more than its added bytes (not the mask's) buy
        gain = psnr(image, codec.decode(data, k, screen).image) - psnr(
            image, codec.decode(snapped, k, screen).image)
        assert gain >= colour_corrections.DB_PER_DOUBLING * np.log2(
            (ends[k - 1] - bitstream.CORRECTED.size) / snapped_ends[k - 1]), (k, gain)


def test_truncation_keeps_the_corrections_of_the_layers_it_keeps(screen) -> None:
    image = grid(96, 128, 8)
    data = codec.encode(image, screen, residual=False)
    header = bitstream.parse(data).header
    first = min(k for k in range(1, 5) if header.is_corrected(k))
    for k in range(1, 5):
        cut = bitstream.truncate(data, k)
        cut_header = bitstream.parse(cut).header
        assert cut_header.corrected == header.corrected & ((1 << k) - 1)
        assert cut_header.version == (5 if k >= first else 4)
        assert (codec.decode(cut, k, screen).image == codec.decode(data, k, screen).image).all()


def test_a_correction_string_that_does_not_decode_is_skipped(screen) -> None:
    """A decoder whose snapped pixels differ from the encoder's reads the string with other
    contexts and cannot decode it: the tile is shown without its corrections. A learned
    part's length beyond its tile string still makes the layer damaged."""
    image = grid(96, 128, 8)
    data = codec.encode(image, screen, residual=False)
    container = bitstream.parse(data)
    k = max(j for j in range(1, 5) if container.header.is_corrected(j))
    learned, correction = bitstream.split_correction(container.chunks[k - 1])
    bad_mask = bytes([0x80]) + correction[1:]
    bad_table = correction[:1] + b"\xff\xff" + correction[3:]
    skipped = bitstream.join_correction(learned, b"")  # an empty string corrects nothing
    without = codec.decode(bitstream.pack(container.header, [
        *container.chunks[: k - 1], skipped, *container.chunks[k:]]), k, screen).image
    assert (without != codec.decode(data, k, screen).image).any()
    for broken in (bad_mask, bad_table, correction[:-4] + b"\x00\x00\x00\x00"):
        chunks = [*container.chunks[: k - 1], bitstream.join_correction(learned, broken),
                  *container.chunks[k:]]
        assert np.array_equal(codec.decode(bitstream.pack(container.header, chunks), k,
                                           screen).image, without)
    chunks = [*container.chunks[: k - 1], b"\x00\x00\xff\xff" + learned, *container.chunks[k:]]
    damaged = bitstream.pack(container.header, chunks)
    with pytest.raises(BitstreamError, match=f"layer {k} of 4 is damaged"):
        codec.decode(damaged, k, screen)
    if k > 1:  # the layers below still decode
        codec.decode(damaged, k - 1, screen)


def test_a_string_that_names_no_colour_is_refused() -> None:
    shown = np.full((4, 4, 3), 255, np.uint8)  # one colour: every neighbour list is empty
    palette = COLOURS[:2]
    table = [65536 - 9] + [1] * 9
    models = ans.table_models(np.array([table]))
    symbols = np.zeros(16, np.int64)
    symbols[5] = 1  # rank 1 of an empty list
    ctx = colour_corrections.contexts(shown, palette)[0]
    assert (ctx == 3).all()
    string = bytes([1 << 3]) + colour_corrections.TABLE.pack(*table) + ans.encode_groups(
        [symbols], [0], models, np.zeros(1, np.int64))
    with pytest.raises(BitstreamError, match="names no colour"):
        colour_corrections.correct(shown, palette, string)
    symbols[5] = colour_corrections.ESCAPE + 1  # palette colour 1: fine
    string = string[:21] + ans.encode_groups([symbols], [0], models, np.zeros(1, np.int64))
    fixed = colour_corrections.correct(shown, palette, string)
    assert (fixed.reshape(-1, 3)[5] == palette[1]).all() and (fixed != shown).any(2).sum() == 1


def test_info_names_the_corrected_layers(screen, tmp_path, capsys) -> None:
    from rpncodec.cli import main

    data = codec.encode(grid(96, 128, 8), screen, residual=False)
    header = bitstream.parse(data).header
    layers = [k for k in range(1, 5) if header.is_corrected(k)]
    path = tmp_path / "grid.rpn"
    path.write_bytes(data)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert (f"{len(header.palette) // 3} exact colours, colour corrections in layers "
            f"{', '.join(map(str, layers))}\n") in out
    assert f"format version {header.version}" in out


def test_ranged_reads_decode_a_corrected_layer(screen, tmp_path) -> None:
    """A version-5 file read by ranges (the longest header too: 256 colours, 16 layers,
    the mask) decodes as the whole file does."""
    data = codec.encode(grid(96, 128, 8), screen, residual=False)
    path = tmp_path / "grid.rpn"
    path.write_bytes(data)
    remote = RemoteRpn(FileSource(str(path)))
    top = max(k for k in range(1, 5) if remote.header.is_corrected(k))
    assert remote.header == bitstream.parse(data).header
    np.testing.assert_array_equal(remote.decode(top, screen).image,
                                  codec.decode(data, top, screen).image)
    header = bitstream.Header("quality", "x" * 64, bytes(8), 64, 64, 16, 64,
                              palette=bytes(range(256)) * 3, radii=((8, 16),) * 16,
                              corrected=0x8001)
    path.write_bytes(bitstream.pack(header, [b"\x00" * 8] * 16))
    remote = RemoteRpn(FileSource(str(path)))
    assert remote.header == header and len(remote.reads) == 2
