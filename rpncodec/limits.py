"""Decompression limits: how many pixels a file may declare before rpncodec refuses it.

The convention is Pillow's ``Image.MAX_IMAGE_PIXELS``: above :data:`MAX_IMAGE_PIXELS` pixels a
:class:`DecompressionBombWarning` is issued, above twice it a :class:`DecompressionBombError`
is raised. The check reads only the size a header declares, so a refusal comes before any
layer is read from a URL, any model is loaded and any image is allocated. It applies to
decoding (:func:`rpncodec.codec.decode`, remote reads, the command line's ``--max-pixels``)
and to reading input images for encoding (:func:`rpncodec.imageio.load_image`, bulk coding).

Like Pillow's, the default is one module-level value: set
``rpncodec.limits.MAX_IMAGE_PIXELS = None`` to switch the check off process-wide, or give a
function's ``max_pixels`` (None: this default; 0: no limit). The format's own hard limit,
:data:`rpncodec.bitstream.MAX_PIXELS` (16384x16384), is applied in every case.

Why a limit below the format's: a file of a few hundred bytes can declare a size whose decode
takes minutes and hundreds of MiB (each tile runs the networks; the output image alone is 3
bytes a pixel), so a service or a batch job that decodes files from strangers needs a bound it
did not have to think of.
"""

from __future__ import annotations

import warnings

from .errors import RpncodecError

# Pillow's value (Image.MAX_IMAGE_PIXELS): a 24-bit image of 256 MiB, 89,478,485 pixels
MAX_IMAGE_PIXELS: int | None = 1024 * 1024 * 1024 // 4 // 3


class DecompressionBombWarning(RuntimeWarning):
    """An image above :data:`MAX_IMAGE_PIXELS` (but not above twice it) is decoded."""


class DecompressionBombError(RpncodecError):
    """An image above twice :data:`MAX_IMAGE_PIXELS` is refused."""


def pixel_limit(max_pixels: int | None = None) -> int | None:
    """The limit in force: ``max_pixels``, or :data:`MAX_IMAGE_PIXELS` when it is None; None
    when there is none (0 or a None default)."""
    limit = MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    return limit or None


def check_pixels(width: int, height: int, max_pixels: int | None = None, *,
                 what: str = "image") -> None:
    """Warn about a ``width`` x ``height`` image above the limit (:func:`pixel_limit`) and
    refuse one above twice it, naming it ``what`` ("file", a path...)."""
    limit = pixel_limit(max_pixels)
    if limit is None:
        return
    pixels = width * height
    if pixels > 2 * limit:
        raise DecompressionBombError(
            f"{what} declares {width}x{height} = {pixels} pixels, more than twice the limit of "
            f"{limit}: refused as a possible decompression bomb (raise the limit with "
            "--max-pixels or rpncodec.limits.MAX_IMAGE_PIXELS; 0 or None switches it off)")
    if pixels > limit:
        warnings.warn(f"{what} declares {width}x{height} = {pixels} pixels, more than the limit "
                      f"of {limit}: it could be a decompression bomb", DecompressionBombWarning,
                      stacklevel=3)
