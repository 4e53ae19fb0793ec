"""The IIIF Image API 3.0 request syntax and ``info.json``, as pure functions.

An image request is ``{identifier}/{region}/{size}/{rotation}/{quality}.{format}``
(https://iiif.io/api/image/3.0/). :func:`parse` turns its four last segments, for an image of a
given size, into an :class:`ImageRequest` in pixels, or raises :class:`IIIFError` with the
status the specification gives: 400 for a malformed or impossible request (a region outside
the image, a size above the full size without ``^``, past the server's limits), 501 for a
well-formed feature this server does not implement (a format such as ``tif``). Nothing here
knows about HTTP or the codec; :mod:`.iiif_routes` is the glue.

Implemented: level 2 (regions ``full``, ``square``, ``x,y,w,h``, ``pct:x,y,w,h``; sizes
``max``, ``w,``, ``,h``, ``pct:n``, ``w,h``, ``!w,h``; rotations 0/90/180/270; qualities
``default``, ``color``, ``gray``; formats ``jpg``, ``png``) plus upscaling (``^``),
mirroring (``!``), arbitrary rotation, the ``bitonal`` quality and the ``webp`` format.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

CONTEXT = "http://iiif.io/api/image/3/context.json"
PROTOCOL = "http://iiif.io/api/image"
PROFILE = "level2"
PROFILE_URI = "http://iiif.io/api/image/3/level2.json"
JSONLD = f'application/ld+json;profile="{CONTEXT}"'
QUALITIES = ("default", "color", "gray", "bitonal")
FORMATS = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
# formats the specification names that this server does not produce (501, not 400)
KNOWN_FORMATS = ("tif", "gif", "pdf", "jp2")
EXTRA_FEATURES = ("baseUriRedirect", "canonicalLinkHeader", "cors", "jsonldMediaType",
                  "mirroring", "profileLinkHeader", "regionByPct", "regionByPx", "regionSquare",
                  "rotationArbitrary", "rotationBy90s", "sizeByConfinedWh", "sizeByH",
                  "sizeByPct", "sizeByW", "sizeByWh", "sizeUpscaling")
MAX_DIGITS = 9  # a pixel count or percentage written with more digits is refused as absurd

_INT = r"[0-9]+"
_DEC = r"[0-9]+(?:\.[0-9]+)?"
_REGION_PX = re.compile(rf"({_INT}),({_INT}),({_INT}),({_INT})")
_REGION_PCT = re.compile(rf"pct:({_DEC}),({_DEC}),({_DEC}),({_DEC})")
_SIZE_WH = re.compile(rf"(!?)({_INT})?,({_INT})?")
_SIZE_PCT = re.compile(rf"pct:({_DEC})")
_ROTATION = re.compile(rf"(!?)({_DEC})")
_QUALITY_FORMAT = re.compile(r"([a-z]+)\.([a-z0-9]+)")


class IIIFError(Exception):
    """A request this server refuses; ``status`` is the HTTP status, ``str`` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """The largest output a request may ask for (``info.json``'s maxWidth/maxHeight/maxArea)."""

    max_width: int
    max_height: int
    max_area: int


@dataclass(frozen=True)
class ImageRequest:
    """A parsed image request, in pixels of the full-resolution image."""

    region: tuple[int, int, int, int]  # x, y, w, h, inside the image
    size: tuple[int, int]  # output width, height before rotation
    mirror: bool
    rotation: float  # degrees clockwise, 0 <= r < 360
    quality: str
    format: str
    upscaled: bool  # the size syntax had ``^``

    def canonical(self, width: int, height: int, limits: Limits) -> str:
        """The canonical ``{region}/{size}/{rotation}/{quality}.{format}`` (spec 3.0, 4.7)."""
        x, y, w, h = self.region
        region = "full" if self.region == (0, 0, width, height) else f"{x},{y},{w},{h}"
        biggest = _fit_limits(w, h, limits, upscale=False)
        if self.size == biggest and not self.upscaled:
            size = "max"
        else:
            size = f"{'^' * self.upscaled}{self.size[0]},{self.size[1]}"
        rotation = f"{'!' * self.mirror}{_number(self.rotation)}"
        return f"{region}/{size}/{rotation}/{self.quality}.{self.format}"


def _number(value: float) -> str:
    """A number as the canonical syntax writes it: no trailing zeros or point."""
    return f"{value:.6f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _int(text: str, what: str) -> int:
    if len(text) > MAX_DIGITS:
        raise IIIFError(400, f"{what} {text[:20]}{'...' * (len(text) > 20)} is above the "
                        f"largest value this server accepts ({10 ** MAX_DIGITS - 1})")
    return int(text)


def _dec(text: str, what: str) -> float:
    whole = text.split(".")[0]
    _int(whole, what)
    return float(text)


def parse_region(text: str, width: int, height: int) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` of a region, cropped to a ``width`` x ``height`` image."""
    if text == "full":
        return 0, 0, width, height
    if text == "square":
        side = min(width, height)
        return (width - side) // 2, (height - side) // 2, side, side
    match = _REGION_PX.fullmatch(text)
    if match:
        x, y, w, h = (_int(v, "region value") for v in match.groups())
    else:
        match = _REGION_PCT.fullmatch(text)
        if not match:
            raise IIIFError(400, f"region must be full, square, x,y,w,h or pct:x,y,w,h, "
                            f"not {text[:40]!r}")
        px, py, pw, ph = (_dec(v, "region percentage") for v in match.groups())
        x, y = round(px * width / 100), round(py * height / 100)
        w, h = round(pw * width / 100), round(ph * height / 100)
    if w <= 0 or h <= 0:
        raise IIIFError(400, f"region {text!r} is empty (its width and height must be above 0)")
    if x >= width or y >= height:
        raise IIIFError(400, f"region {text!r} lies outside the {width}x{height} image")
    return x, y, min(w, width - x), min(h, height - y)


def _fit_limits(w: int, h: int, limits: Limits, upscale: bool) -> tuple[int, int]:
    """The largest size of ``w:h`` proportions inside the limits (and inside ``w`` x ``h``
    unless ``upscale``)."""
    scale = min(limits.max_width / w, limits.max_height / h,
                math.sqrt(limits.max_area / (w * h)))
    if not upscale:
        scale = min(scale, 1.0)
    if scale == 1.0:
        return w, h
    return max(1, math.floor(w * scale)), max(1, math.floor(h * scale))


def parse_size(text: str, region_w: int, region_h: int, limits: Limits) -> tuple[int, int]:
    """Output ``(width, height)`` for a size of a ``region_w`` x ``region_h`` region."""
    upscale = text.startswith("^")
    body = text[1:] if upscale else text
    if body == "max":  # ^max too: no limit above the full size is declared (info_json)
        return _fit_limits(region_w, region_h, limits, upscale=False)
    match = _SIZE_PCT.fullmatch(body)
    if match:
        pct = _dec(match[1], "size percentage")
        w, h = round(region_w * pct / 100), round(region_h * pct / 100)
    else:
        match = _SIZE_WH.fullmatch(body)
        if not match or (match[2] is None and match[3] is None) or (
                match[1] and (match[2] is None or match[3] is None)):
            raise IIIFError(400, f"size must be max, w,, ,h, pct:n, w,h or !w,h (each may "
                            f"start with ^), not {text[:40]!r}")
        confined, wt, ht = match[1], match[2], match[3]
        bw = _int(wt, "size width") if wt is not None else None
        bh = _int(ht, "size height") if ht is not None else None
        if confined:
            scale = min(bw / region_w, bh / region_h)
            w = min(bw, max(1, round(region_w * scale)))
            h = min(bh, max(1, round(region_h * scale)))
        elif bw is None:
            w, h = round(region_w * bh / region_h), bh
        elif bh is None:
            w, h = bw, round(region_h * bw / region_w)
        else:
            w, h = bw, bh
    if w < 1 or h < 1:
        raise IIIFError(400, f"size {text!r} of a {region_w}x{region_h} region is empty")
    if not upscale and (w > region_w or h > region_h):
        raise IIIFError(400, f"size {text!r} is larger than the {region_w}x{region_h} region; "
                        "ask for ^" + text + " to upscale")
    if w > limits.max_width or h > limits.max_height or w * h > limits.max_area:
        raise IIIFError(400, f"size {w}x{h} is above this server's limit (at most "
                        f"{limits.max_width}x{limits.max_height} and {limits.max_area} "
                        "pixels)")
    return w, h


def parse_rotation(text: str) -> tuple[bool, float]:
    """``(mirror, degrees clockwise)`` of a rotation such as ``90`` or ``!22.5``."""
    match = _ROTATION.fullmatch(text)
    if not match:
        raise IIIFError(400, f"rotation must be a number of degrees from 0 to 360, "
                        f"optionally after !, not {text[:40]!r}")
    degrees = _dec(match[2], "rotation")
    if degrees > 360:
        raise IIIFError(400, f"rotation must be from 0 to 360 degrees, not {match[2]}")
    return bool(match[1]), degrees % 360


def parse_quality_format(text: str) -> tuple[str, str]:
    """``(quality, format)`` of the last segment, e.g. ``default.jpg``."""
    match = _QUALITY_FORMAT.fullmatch(text)
    if not match:
        raise IIIFError(400, f"the last segment must be quality.format (e.g. default.jpg), "
                        f"not {text[:40]!r}")
    quality, fmt = match.groups()
    if quality not in QUALITIES:
        raise IIIFError(400, f"quality must be one of {', '.join(QUALITIES)}, "
                        f"not {quality[:20]!r}")
    if fmt in KNOWN_FORMATS:
        raise IIIFError(501, f"format {fmt} is not produced here (use "
                        f"{', '.join(FORMATS)})")
    if fmt not in FORMATS:
        raise IIIFError(400, f"format must be one of {', '.join(FORMATS)}, not {fmt[:20]!r}")
    return quality, fmt


def parse(region: str, size: str, rotation: str, quality_format: str, width: int,
          height: int, limits: Limits) -> ImageRequest:
    """The request for a ``width`` x ``height`` image (every segment checked, in the order
    the URL gives them)."""
    x, y, w, h = parse_region(region, width, height)
    out = parse_size(size, w, h, limits)
    mirror, degrees = parse_rotation(rotation)
    quality, fmt = parse_quality_format(quality_format)
    return ImageRequest((x, y, w, h), out, mirror, degrees, quality, fmt, size.startswith("^"))


def limits_for(width: int, height: int, max_pixels: int) -> Limits:
    """The output limits of an image: ``max_pixels`` in area, and no side above the larger of
    the image's sides and the square root of the area."""
    side = max(width, height, math.isqrt(max_pixels))
    return Limits(side, side, max_pixels)


def info_json(base: str, width: int, height: int, sizes: list[tuple[int, int]], tile: int,
              scale_factors: list[int], limits: Limits) -> dict:
    """The ``info.json`` of an image served at ``base`` (``.../iiif/3/{identifier}``).

    ``maxWidth``/``maxHeight``/``maxArea`` are stated only when they bind at full size
    (otherwise ``max`` is the full image and clients need not know them)."""
    info = {
        "@context": CONTEXT, "id": base, "type": "ImageService3", "protocol": PROTOCOL,
        "profile": PROFILE, "width": width, "height": height,
        "sizes": [{"width": w, "height": h} for w, h in sorted(set(sizes))],
        "tiles": [{"width": tile, "height": tile, "scaleFactors": scale_factors}],
        "extraQualities": [q for q in QUALITIES if q != "default"],
        "extraFormats": ["webp"],
        "extraFeatures": list(EXTRA_FEATURES),
    }
    if _fit_limits(width, height, limits, upscale=False) != (width, height):
        info.update(maxWidth=limits.max_width, maxHeight=limits.max_height,
                    maxArea=limits.max_area)
    return info
