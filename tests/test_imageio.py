"""Tests of image loading (mode conversions, warnings, refusals) and atomic output writing."""

import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from rpncodec.errors import InputImageError, OutputError
from rpncodec.imageio import (
    ImageWarning,
    atomic_output,
    atomic_write_bytes,
    check_not_same_file,
    load_image,
    save_image,
)

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, size=(12, 20, 3), dtype=np.uint8)


def load_quietly(path):
    """Load and fail if any warning is emitted."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_image(path)


def write_png(path, width, height, bit_depth, color_type, raw_rows=b""):
    """A hand-made PNG, to produce files Pillow cannot write (16-bit RGB) or lies (huge size)."""

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    data += chunk(b"IDAT", zlib.compress(raw_rows)) + chunk(b"IEND", b"")
    path.write_bytes(data)


def test_rgb_png_exact(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "a.png")
    array = load_quietly(tmp_path / "a.png")
    assert array.dtype == np.uint8 and array.shape == (12, 20, 3)
    assert np.array_equal(array, RGB)


def test_gray_and_bilevel(tmp_path):
    gray = RGB[:, :, 0]
    Image.fromarray(gray).save(tmp_path / "l.png")
    assert np.array_equal(load_quietly(tmp_path / "l.png"), np.repeat(gray[:, :, None], 3, 2))
    Image.fromarray(gray > 127).save(tmp_path / "one.png")
    array = load_quietly(tmp_path / "one.png")
    assert array.shape == (12, 20, 3) and set(np.unique(array)) <= {0, 255}


def test_alpha_dropped_with_warning(tmp_path):
    alpha = np.full((12, 20), 255, np.uint8)
    alpha[0, 0] = 10
    Image.fromarray(np.dstack([RGB, alpha])).save(tmp_path / "rgba.png")
    with pytest.warns(ImageWarning, match="rgba.png has transparency") as record:
        array = load_image(tmp_path / "rgba.png")
    assert len(record) == 1
    assert np.array_equal(array, RGB)
    Image.fromarray(np.dstack([RGB[:, :, 0], alpha])).save(tmp_path / "la.png")
    with pytest.warns(ImageWarning, match="alpha channel is dropped"):
        assert np.array_equal(load_image(tmp_path / "la.png")[:, :, 2], RGB[:, :, 0])


def test_opaque_alpha_is_silent(tmp_path):
    opaque = np.dstack([RGB, np.full((12, 20), 255, np.uint8)])
    Image.fromarray(opaque).save(tmp_path / "opaque.png")
    assert np.array_equal(load_quietly(tmp_path / "opaque.png"), RGB)


def test_palette_with_and_without_transparency(tmp_path):
    palette_image = Image.fromarray(RGB).quantize(colors=16)
    palette_image.save(tmp_path / "p.png")
    expected = np.asarray(palette_image.convert("RGB"))
    assert np.array_equal(load_quietly(tmp_path / "p.png"), expected)
    palette_image.save(tmp_path / "pt.png", transparency=int(np.asarray(palette_image)[0, 0]))
    with pytest.warns(ImageWarning, match="transparency"):
        array = load_image(tmp_path / "pt.png")
    assert np.array_equal(array, expected)


def test_cmyk_jpeg(tmp_path):
    Image.fromarray(RGB).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    array = load_quietly(tmp_path / "c.jpg")
    assert array.shape == (12, 20, 3) and array.dtype == np.uint8


def test_16_bit_gray_png(tmp_path):
    values = np.array([[0, 128, 129, 257, 65535, 40000]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    with pytest.warns(ImageWarning, match="16-bit"):
        array = load_image(tmp_path / "g16.png")
    assert array.shape == (1, 6, 3)
    assert list(array[0, :, 1]) == [0, 0, 1, 1, 255, round(40000 / 257)]


def test_16_bit_rgb_png_warns(tmp_path):
    samples = (np.arange(4 * 3 * 3, dtype=np.uint16).reshape(4, 3, 3) * 1800).astype(">u2")
    rows = b"".join(b"\x00" + row.tobytes() for row in samples)
    write_png(tmp_path / "rgb16.png", 3, 4, 16, 2, rows)
    with pytest.warns(ImageWarning, match="16-bit samples"):
        array = load_image(tmp_path / "rgb16.png")
    assert array.shape == (4, 3, 3)
    assert abs(int(array[3, 2, 2]) - int(samples[3, 2, 2]) / 257) <= 1


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 6), color) for color in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    with pytest.warns(ImageWarning, match="animated \\(3 frames\\)"):
        array = load_image(tmp_path / "anim.gif")
    assert array.shape == (6, 8, 3)
    assert tuple(array[0, 0]) == (255, 0, 0)


def test_exif_orientation_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    image = Image.new("RGB", (40, 20), (200, 200, 200))
    image.paste((0, 0, 0), (0, 0, 10, 10))  # dark block at the stored top-left
    image.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    array = load_quietly(tmp_path / "rot.jpg")
    assert array.shape == (40, 20, 3)
    assert array[2, -3].mean() < 60 and array[2, 2].mean() > 150  # now top-right


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_truncated_images_refused(tmp_path, suffix):
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
        tmp_path / f"a.{suffix}"
    )
    data = (tmp_path / f"a.{suffix}").read_bytes()
    (tmp_path / f"cut.{suffix}").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputImageError, match=f"cut.{suffix} is truncated or corrupt"):
        load_image(tmp_path / f"cut.{suffix}")


def test_bad_inputs_refused(tmp_path):
    (tmp_path / "x.txt").write_text("hello, not an image\n")
    (tmp_path / "zero.png").write_bytes(b"")
    cases = {
        tmp_path / "x.txt": "x.txt is not an image Pillow can read",
        tmp_path / "zero.png": "zero.png is empty",
        tmp_path: "is a directory",
        tmp_path / "missing.png": "missing.png does not exist",
    }
    for path, message in cases.items():
        with pytest.raises(InputImageError, match=message) as info:
            load_image(path)
        assert "\n" not in str(info.value)


def test_oversized_image_refused_before_decoding(tmp_path):
    write_png(tmp_path / "huge.png", 70000, 8, 8, 0, b"\x00")
    with pytest.raises(InputImageError, match=r"huge\.png is a 70000x8 image, above the limit"):
        load_image(tmp_path / "huge.png")
    write_png(tmp_path / "bomb.png", 65536, 65536, 8, 0, b"\x00")  # past Pillow's own limit
    with pytest.raises(InputImageError, match="65536x65536 image, above the limit"):
        load_image(tmp_path / "bomb.png")


@pytest.mark.parametrize("name", ["out.png", "out.ppm", "out.bmp", "out.tif", "noext"])
def test_save_image_round_trip(tmp_path, name):
    save_image(RGB, tmp_path / name)
    assert np.array_equal(load_quietly(tmp_path / name), RGB)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_save_png_imports_only_the_common_plugins(tmp_path):
    """Naming the format from the suffix must not import all of Pillow's plugins (50 ms of a
    command-line decode); a fresh process shows what the PNG writer pulled in."""
    script = ("import sys, numpy as np; from rpncodec.imageio import save_image; "
              f"save_image(np.zeros((4, 4, 3), np.uint8), {str(tmp_path / 'a.png')!r}); "
              "print(sorted(m for m in sys.modules if m.endswith('ImagePlugin')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    plugins = eval(done.stdout)
    assert "PIL.PngImagePlugin" in plugins
    assert len(plugins) <= 6, plugins  # Pillow's preinit set, not its ~40 plugins


def test_save_image_refusals(tmp_path):
    with pytest.raises(OutputError, match=r"unknown image format '\.xyz'"):
        save_image(RGB, tmp_path / "a.xyz")
    with pytest.raises(OutputError, match=r"output folder .*nope does not exist"):
        save_image(RGB, tmp_path / "nope" / "a.png")
    with pytest.raises(OutputError, match="is a directory"):
        save_image(RGB, tmp_path)
    with pytest.raises(ValueError, match="uint8"):
        save_image(RGB.astype(np.float32), tmp_path / "a.png")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_failure_keeps_target(tmp_path):
    target = tmp_path / "out.rpn"
    target.write_bytes(b"old")
    seen = []

    def failing_encoder():
        with atomic_output(target) as temp:
            seen.append(temp)
            temp.write_bytes(b"new but incomplete")
            raise RuntimeError("encoder failed")

    with pytest.raises(RuntimeError, match="encoder failed"):
        failing_encoder()
    assert seen[0].parent == tmp_path
    assert seen[0].name.startswith(".out.rpn.tmp-")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.rpn"]


def test_atomic_write_bytes(tmp_path):
    target = tmp_path / "out.rpn"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.rpn"]
    with pytest.raises(OutputError, match="does not exist"):
        atomic_write_bytes(tmp_path / "missing" / "x.rpn", b"")


def test_check_not_same_file(tmp_path):
    source = tmp_path / "in.png"
    source.write_bytes(b"x")
    (tmp_path / "link.png").symlink_to(source)
    for same in (source, tmp_path / "." / "in.png", tmp_path / "link.png"):
        with pytest.raises(OutputError, match="is the input file"):
            check_not_same_file(source, same)
    check_not_same_file(source, tmp_path / "other.png")
    check_not_same_file(source, tmp_path / "missing" / "x.png")
