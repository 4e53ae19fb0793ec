"""Residual layers (format version 6): a residual string decodes to exactly the encoder's
pixels, within half a step of the reference (step 1: lossless); the encoder replaces learned
layers only where each shows a higher PSNR at no more bytes; photographs keep their learned
layers; damage is refused by layer; truncation and the header keep the steps right."""

from __future__ import annotations

import zlib
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from rpncodec import bitstream, codec
from rpncodec import residual_layers as residual
from rpncodec.backend import open_model
from rpncodec.cli import SAMPLE, main
from rpncodec.errors import BitstreamError, ModelError
from rpncodec.imageio import load_image
from rpncodec.metrics import psnr


def text_image(h: int = 96, w: int = 160, seed: int = 0) -> np.ndarray:
    """Dark, anti-aliased-free text lines and a coloured box on white: screen content."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((w - 40, 6, w - 8, 30), fill=(20, 90, 200))
    for row in range(6, h - 10, 12):
        words = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz   ="), 22))
        draw.text((4, row), words, fill=(30, 30, 30))
    return np.asarray(image)


@pytest.fixture(scope="module")
def screen():
    return open_model("rpn-quality-screen")


@pytest.fixture(scope="module")
def coded(screen):
    """A text image coded with residual layers and without."""
    image = text_image()
    return image, codec.encode(image, screen), codec.encode(image, screen, residual=False)


@pytest.mark.parametrize("step", [1, 2, 7, 52, 255])
def test_a_residual_string_decodes_to_the_encoders_pixels_within_half_a_step(step) -> None:
    reference = text_image(40, 72)
    rng = np.random.default_rng(step)
    previous = np.clip(reference.astype(int) + rng.integers(-40, 41, reference.shape), 0,
                       255).astype(np.uint8)
    string, shown = residual.encode(reference, previous, step)
    assert np.array_equal(residual.decode(previous, step, string), shown)
    error = np.abs(shown.astype(int) - reference)
    assert error.max() <= step // 2
    if step == 1:
        assert np.array_equal(shown, reference)


def test_the_tables_follow_their_integer_definition() -> None:
    for z, a, t, reach in [(0, 0, 0, 1), (16, 8, 100, 3), (255, 255, 255, 10), (40, 3, 7, 255)]:
        freq = residual.table(z, a, t, reach)
        assert len(freq) == 2 * reach + 2 and freq.sum() == 2**16 and freq.min() >= 1
        assert np.array_equal(freq[:reach], freq[reach + 1:-1][::-1])  # symmetric
    # worked by hand from docs/format.md: tail 4096, 1616; one 22848; zero 913920; a change
    # here changes the format
    assert residual.table(16, 8, 100, 3).tolist() == [110, 277, 1542, 61677, 1542, 277, 110, 1]
    # z sets 0 against the rest as z * z / 16 to 1
    freq = residual.table(8, 0, 0, 2)
    assert abs(freq[2] / (freq.sum() - freq[2] - freq[-1]) - 4) < 0.01


def test_contexts_follow_their_definitions() -> None:
    parts = residual.green_parts(5, 6)
    assert [len(p) for p, _, _ in parts] == [4, 1, 4, 6, 15]  # 30 pixels, each once
    assert sorted(np.concatenate([p for p, _, _ in parts]).tolist()) == list(range(30))
    # row-major within a part: (0, 2), (2, 0), (2, 4), (4, 2)
    assert parts[1][0].tolist() == [2 * 6 + 2] and parts[2][0].tolist() == [2, 12, 16, 26]
    green = np.zeros((5, 6), np.int64)
    green[0, 0] = green[0, 4] = green[4, 0] = 1  # lattice pixels
    green[2, 2] = -3
    centre = residual.part_contexts(green, 1, residual.DIAGONAL, 2)
    assert centre[2, 2] == 1 + 3  # three of its diagonal neighbours at distance 2
    side = residual.part_contexts(green, 2, residual.CROSS, 2)
    assert side[0, 2] == 6 + 3  # left, right and below (the centre); above is outside
    red = np.zeros_like(green)
    red[2, 2] = 5
    part5 = residual.part_contexts(green, 5, (), 0)
    assert part5[2, 2] == 3 * 1 + 2 and part5[1, 1] == 3 * 1 + 0 and part5[4, 4] == 0
    assert residual.part_contexts(green, 6, (), 0, red)[2, 2] == 2 * part5[2, 2] + 1


def test_the_symbols_do_not_depend_on_the_previous_pixels() -> None:
    """A decoder whose learned layer is one level off somewhere (another backend or CPU)
    still reads the same symbols: its pixels differ exactly where its base does."""
    reference = text_image(40, 72)
    previous = np.full_like(reference, 200)
    string, shown = residual.encode(reference, previous, 9)
    other = previous.copy()
    other[::7, ::5] += 1
    moved = residual.decode(other, 9, string).astype(int) - shown
    assert ((moved != 0) <= (other != previous)).all() and np.abs(moved).max() == 1


def test_the_encoder_replaces_layers_only_where_each_gains_at_no_more_bytes(coded) -> None:
    image, data, learned = coded
    header = bitstream.parse(data).header
    assert header.version == 6 and header.steps[header.learned:]  # text: they pay here
    ends = [e for _, e in bitstream.parse(data).byte_ranges]
    old = [e for _, e in bitstream.parse(learned).byte_ranges]
    growth = 1 + header.layers
    for k in range(1, header.layers + 1):
        new_psnr = psnr(image, codec.decode(data, k).image)
        old_psnr = psnr(image, codec.decode(learned, k).image)
        if k > header.learned:
            assert ends[k - 1] <= old[k - 1] + growth and new_psnr > old_psnr
        else:  # the layers below are the same bytes and pixels, under a longer header
            assert ends[k - 1] == old[k - 1] + growth and new_psnr == old_psnr
    # the top layer's gain (0.95 dB when written) at 17 fewer bytes
    assert psnr(image, codec.decode(data).image) > psnr(image, codec.decode(learned).image) + 0.5


def test_photographs_keep_their_learned_layers() -> None:
    photo = load_image(SAMPLE)[:256, :256]
    model = open_model("rpn-quality-cond")
    assert codec.encode(photo, model) == codec.encode(photo, model, residual=False)


def test_truncation_keeps_the_steps_and_falls_back_a_version(coded) -> None:
    _, data, _ = coded
    header = bitstream.parse(data).header
    for k in range(1, header.layers + 1):
        cut = bitstream.truncate(data, k)
        assert np.array_equal(codec.decode(cut).image, codec.decode(data, k).image)
        assert (cut[4] == 6) == (k > header.learned)


def test_a_damaged_residual_string_is_refused_with_its_layer(coded) -> None:
    _, data, _ = coded
    container = bitstream.parse(data)
    top = container.header.layers
    string = container.chunks[-1]
    for bad in (string[:11], string[:-4], b"\xff" * 12 + string[12:]):
        damaged = bitstream.pack(container.header, [*container.chunks[:-1], bad])
        with pytest.raises(BitstreamError, match=f"layer {top} of {top} is damaged"):
            codec.decode(damaged)
        assert codec.decode(damaged, top - 1).image.shape  # the layers below still decode


@pytest.mark.parametrize(("steps", "says"), [
    ((3, 0, 0, 5), "residual steps"),  # layer 1 is always learned
    ((0, 4, 0, 5), "residual steps"),  # residual layers come last
])
def test_headers_with_impossible_steps_are_refused(coded, steps, says) -> None:
    _, data, _ = coded
    header = bitstream.parse(data).header
    with pytest.raises(BitstreamError, match=says):
        replace(header, steps=steps)


def test_a_tools_byte_naming_an_unknown_tool_is_refused(coded) -> None:
    _, data, _ = coded
    header = bitstream.parse(data).header
    raw = bytearray(header.to_bytes()[:-4])
    at = (bitstream.HEADER_FIXED.size + len(header.model) + bitstream.HEADER_TAIL.size
          + header.layers)  # the tools byte follows the shifts
    assert raw[at] == bitstream.TOOL_RESIDUAL | bitstream.TOOL_EXACT * bool(header.palette) \
        | bitstream.TOOL_CORRECTIONS * bool(header.corrected)
    raw[at] |= 8
    bad = bytes(raw) + bitstream.U32.pack(zlib.crc32(raw)) + data[len(raw) + 4:]
    with pytest.raises(BitstreamError, match="tools byte"):
        bitstream.parse(bad)


def test_cli_no_residual_layers_and_info(tmp_path, capsys) -> None:
    source = tmp_path / "text.png"
    Image.fromarray(text_image()).save(source)
    for flag, version in (([], 6), (["--no-residual-layers"], 5)):
        out = tmp_path / f"t{version}.rpn"
        assert main(["encode", str(source), "-o", str(out), "--model", "rpn-quality-screen",
                     *flag]) == 0
        assert out.read_bytes()[4] <= version and (out.read_bytes()[4] == 6) == (not flag)
    assert main(["info", str(tmp_path / "t6.rpn")]) == 0
    out = capsys.readouterr().out
    assert "format version 6" in out and "residual layers: " in out


def test_extra_layers_go_beyond_the_model_down_to_lossless(screen, tmp_path) -> None:
    image = text_image(64, 96)
    data = codec.encode(image, screen, extra=(6, 1))
    header = bitstream.parse(data).header
    assert header.layers == 6 and header.steps[-2:] == (6, 1)
    assert np.abs(codec.decode(data, 5).image.astype(int) - image).max() <= 3
    assert np.array_equal(codec.decode(data).image, image)
    assert np.array_equal(codec.decode(bitstream.truncate(data, 5)).image,
                          codec.decode(data, 5).image)
    with pytest.raises(ModelError, match="steps of 1 to 255"):
        codec.encode(image, screen, extra=(0,))
    source = tmp_path / "text.png"
    Image.fromarray(image).save(source)
    out = tmp_path / "lossless.rpn"
    assert main(["encode", str(source), "-o", str(out), "--model", "rpn-quality-screen",
                 "--extra-layers", "1"]) == 0
    assert np.array_equal(codec.decode(out.read_bytes()).image, image)
