"""Decoded tiles -> the encoded image a IIIF request asked for.

The tiles a :class:`~.plan.Plan` names are pasted into the region's crop (in the chosen
layer's pixels), which is resized to the requested size (Lanczos; none when the layer already
has that size, so such a request gets exactly the pixels ``rpncodec decode`` writes), then
mirrored, rotated (clockwise; a rotation that is not a multiple of 90 degrees enlarges the
image to its bounding box, transparent where the format allows, white otherwise) and reduced
to the quality (``gray``: luminance; ``bitonal``: luminance thresholded at 128). Runs in a
thread of the server process: Pillow releases the GIL while it resizes and encodes.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from .iiif import ImageRequest
from .plan import Plan

JPEG_QUALITY = 90
WEBP_QUALITY = 90
_PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}
_TURNS = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
          270: Image.Transpose.ROTATE_90}  # clockwise degrees -> Pillow's counter-clockwise


def assemble(plan: Plan, tiles: list[np.ndarray]) -> np.ndarray:
    """The region's crop (uint8 ``[rows, cols, 3]``) from the plan's tiles, in plan order."""
    x0, y0, x1, y1 = plan.crop
    canvas = np.empty((y1 - y0, x1 - x0, 3), dtype=np.uint8)
    for piece, pixels in zip(plan.tiles, tiles, strict=True):
        top, left = max(0, piece.y), max(0, piece.x)
        bottom = min(canvas.shape[0], piece.y + pixels.shape[0])
        right = min(canvas.shape[1], piece.x + pixels.shape[1])
        canvas[top:bottom, left:right] = pixels[top - piece.y : bottom - piece.y,
                                                left - piece.x : right - piece.x]
    return canvas


def finish(canvas: np.ndarray, size: tuple[int, int], request: ImageRequest) -> Image.Image:
    """Resize, mirror, rotate and reduce ``canvas`` as ``request`` asks."""
    image = Image.fromarray(canvas)
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    if request.mirror:
        image = ImageOps.mirror(image)
    if request.quality in ("gray", "bitonal"):
        image = image.convert("L")
        if request.quality == "bitonal":
            image = image.point(lambda v: 255 if v >= 128 else 0)
    if request.rotation in _TURNS:
        image = image.transpose(_TURNS[request.rotation])
    elif request.rotation:
        if request.format == "jpg":
            fill = 255 if image.mode == "L" else (255, 255, 255)
        else:
            image = image.convert("LA" if image.mode == "L" else "RGBA")
            fill = (0, 0) if image.mode == "LA" else (0, 0, 0, 0)
        image = image.rotate(-request.rotation, Image.Resampling.BICUBIC, expand=True,
                             fillcolor=fill)
    return image


def encode(image: Image.Image, fmt: str) -> bytes:
    """``fmt`` bytes of ``image`` (JPEG and WebP at quality 90, PNG at a fast level)."""
    out = io.BytesIO()
    options = {"jpg": {"quality": JPEG_QUALITY}, "png": {"compress_level": 1},
               "webp": {"quality": WEBP_QUALITY, "method": 2}}[fmt]
    image.save(out, format=_PIL_FORMATS[fmt], **options)
    return out.getvalue()


def compose(plan: Plan, tiles: list[np.ndarray], request: ImageRequest) -> bytes:
    """The response body of ``request`` from its plan's decoded ``tiles``."""
    return encode(finish(assemble(plan, tiles), plan.size, request), request.format)
