"""Reading input images into RGB arrays, and writing outputs without ever leaving half a file.

The codec works on 8-bit RGB only. Everything Pillow can open is reduced to that, and whatever
is lost on the way (alpha, bit depth, extra frames) is reported with an :class:`ImageWarning`
rather than silently. Outputs are written to a temporary file next to the target and renamed
over it, so an interrupted or failed run never leaves a truncated output behind.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from rpncodec.bitstream import size_problem
from rpncodec.errors import InputImageError, OutputError
from rpncodec.files import atomic_output, atomic_write_bytes, check_not_same_file, one_line
from rpncodec.limits import check_pixels

__all__ = ["atomic_output", "atomic_write_bytes", "check_not_same_file", "list_images",
           "load_image", "save_image"]

# Pillow raises these (besides OSError) on malformed files; all mean "cannot decode this file".
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    Image.DecompressionBombError,
)
_SIXTEEN_BIT_GRAY = ("I;16", "I;16B", "I;16L", "I;16N", "I")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp"}


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively, by suffix), sorted for reproducibility."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


class ImageWarning(UserWarning):
    """Something of the input image was dropped or reduced while converting it to 8-bit RGB."""


def _open(path: Path) -> Image.Image:
    """Open ``path`` with Pillow, mapping every failure to a one-line :class:`InputImageError`."""
    if not path.exists():
        raise InputImageError(f"{path} does not exist")
    if path.is_dir():
        raise InputImageError(f"{path} is a directory, not an image")
    try:
        if path.stat().st_size == 0:
            raise InputImageError(f"{path} is empty (0 bytes)")
    except OSError as error:
        raise InputImageError(f"cannot read {path}: {one_line(error)}") from None
    # Pillow's own decompression-bomb check raises inside open, with its own message and
    # setting, so it is switched off while opening; load_image applies rpncodec.limits (the
    # same convention) before any pixel is decoded.
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        return Image.open(path)
    except UnidentifiedImageError:
        raise InputImageError(f"{path} is not an image Pillow can read") from None
    except PermissionError as error:
        raise InputImageError(f"cannot read {path}: {error.strerror}") from None
    except _DECODE_ERRORS as error:
        raise InputImageError(f"{path} is truncated or corrupt ({one_line(error)})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _source_is_16_bit(path: Path, image: Image.Image) -> bool:
    """Whether Pillow will reduce 16-bit samples to 8 bits on load (e.g. 16-bit RGB PNG)."""
    for tile in image.tile:
        rawmode = tile.args if isinstance(tile.args, str) else (tile.args or ("",))[0]
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    if image.format == "PNG":
        with open(path, "rb") as file:
            head = file.read(25)
        return len(head) == 25 and head[24] == 16  # IHDR bit depth
    return False


def to_rgb(image: Image.Image, name: str | Path) -> np.ndarray:
    """Convert a Pillow image of any mode to a uint8 (H, W, 3) array (``name`` names it in
    warnings and errors): alpha is dropped with an :class:`ImageWarning`, 16-bit gray reduced
    to 8 bits; floating-point or unconvertible modes raise :class:`InputImageError`."""
    mode = image.mode
    if mode == "F":
        raise InputImageError(f"{name} has floating-point pixels, which rpncodec does not read")
    if mode in _SIXTEEN_BIT_GRAY:
        values = np.asarray(image).astype(np.int64)
        gray = ((np.clip(values, 0, 65535) + 128) // 257).astype(np.uint8)  # round(v / 257)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("PA", "La", "RGBa"):
        image = image.convert("RGBA")
    if image.mode in ("LA", "RGBA"):
        alpha = np.asarray(image.getchannel("A"))
        if (alpha != 255).any():
            warnings.warn(
                f"{name} has transparency; the alpha channel is dropped (colors kept as stored)",
                ImageWarning,
                stacklevel=3,
            )
    try:
        rgb = image.convert("RGB")
    except ValueError:
        message = f"{name} has pixel mode {mode}, which rpncodec cannot convert to RGB"
        raise InputImageError(message) from None
    return np.array(rgb, dtype=np.uint8).reshape(rgb.height, rgb.width, 3)


def load_image(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as 8-bit RGB: a ``uint8`` array of shape (height, width, 3).

    EXIF orientation is applied. Alpha, 16-bit depth and extra animation frames are dropped
    with an :class:`ImageWarning`. Unreadable, corrupt, truncated or oversized files raise
    :class:`InputImageError` naming the file; oversized ones before their pixels are decoded.
    Images above the decompression limit ``max_pixels`` warn or are refused as
    :func:`rpncodec.limits.check_pixels` says (None: the default limit, 0: none), also before
    their pixels are decoded.
    """
    path = Path(path)
    with _open(path) as image:
        problem = size_problem(image.height, image.width)
        if problem:
            raise InputImageError(f"{path} is {problem}")
        check_pixels(image.width, image.height, max_pixels, what=str(path))
        try:
            frames = getattr(image, "n_frames", 1)
            deep = image.mode in _SIXTEEN_BIT_GRAY or _source_is_16_bit(path, image)
            image.load()
            oriented = ImageOps.exif_transpose(image)
        except _DECODE_ERRORS as error:
            raise InputImageError(f"{path} is truncated or corrupt ({one_line(error)})") from None
        if frames > 1:
            warnings.warn(
                f"{path} is animated ({frames} frames); only the first frame is used",
                ImageWarning,
                stacklevel=2,
            )
        if deep:
            warnings.warn(
                f"{path} has 16-bit samples; they are reduced to 8 bits", ImageWarning, stacklevel=2
            )
        return to_rgb(oriented, path)


def _format_for(suffix: str) -> str | None:
    """Pillow's format name for a file suffix (``".png"``); None if Pillow cannot name it.

    The common formats (PNG, PPM, BMP, JPEG, GIF) are found without importing every Pillow
    plugin, which ``registered_extensions()`` does: 50 ms of a 0.4 s command-line decode.
    """
    Image.preinit()
    return Image.EXTENSION.get(suffix) or Image.registered_extensions().get(suffix)


def save_image(array: np.ndarray, path: str | Path) -> None:
    """Write a uint8 (H, W, 3) RGB array atomically; the format follows the suffix (PNG if none).

    Any format Pillow can write is accepted (.png, .ppm, .bmp, .tif, ...); an unknown suffix
    raises :class:`OutputError` before anything is written.
    """
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) array, got {array.dtype} {array.shape}")
    target = Path(path)
    suffix = target.suffix.lower()
    image_format = _format_for(suffix) if suffix else "PNG"
    if image_format is None or image_format not in Image.SAVE:
        raise OutputError(f"cannot write {target}: unknown image format {suffix!r} (use .png)")
    image = Image.fromarray(np.ascontiguousarray(array))
    # PNG at zlib level 1: 4x faster to write than Pillow's default 6 for 13% more bytes
    # (a decoder's output; recompress it if size matters)
    options = {"compress_level": 1} if image_format == "PNG" else {}
    try:
        with atomic_output(target) as temp:
            image.save(temp, format=image_format, **options)
    except (OSError, ValueError, KeyError) as error:
        raise OutputError(f"cannot write {target}: {one_line(error)}") from None
