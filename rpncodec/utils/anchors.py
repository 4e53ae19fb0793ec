"""Classical anchors (and the learned simulcast) in the same JSON shape as ``rpncodec eval``.

Scalable anchors, one stream per image:

- ``jpeg2000-layered``: one OpenJPEG codestream (Pillow; irreversible 9/7, colour transform on
  with ``mct=1``, LRCP) whose quality layers are allocated at given cumulative rates, decoded
  with 1..L layers: the quality-scalable anchor. The bytes of layer k are measured on a real
  file: the same image coded with only the first k layer rates, which decodes
  pixel-identically to the full codestream cut to k layers (checked on every image; where
  OpenJPEG allocates nearly equal layer rates differently, the k-layer file's own decode is
  used, so bytes and pixels always come from one real file).
- ``jpeg2000-resolutions``: one codestream per image at a total rate (RLCP, irreversible,
  ``mct=1``, OpenJPEG's 6 resolution levels), decoded with ``reduce`` 2, 1, 0, each compared
  with :func:`rpncodec.pyramid.pyramid_images` of the original: the spatial anchor. Layer k's
  bytes are those of a real file, the codestream cut after the resolutions it decodes (found
  from the PLT packet lengths), over layer k's own pixels.
- ``jpeg2000-spatial-quality``: the combined anchor of a spatial-quality stream: one LRCP
  codestream whose quality layer k ends at layer k's cumulative bytes, layer k decoded with
  its first k quality layers at ``reduce`` 2, 1, 0, 0, 0 (bytes of real k-layer files, over
  the layer's own pixels). A J2K quality layer spreads its bytes over every resolution, so the
  reduced layers pay for detail they do not show: that is what one quality-progressive
  codestream costs a thumbnail.
  The 9/7 wavelet's low-pass image is not the pyramid's triangle-filtered image (it is sharper
  and aliased), which caps the lower layers' PSNR against the pyramid whatever the rate;
  ``psnr_own`` therefore also compares each layer with the same codestream's decode at an
  unconstrained rate, the anchor's own reference.

Single-layer rate sweeps (mode ``single``; one entry per setting, averaged over images):

- ``jpeg2000``: OpenJPEG via Pillow, irreversible 9/7, ``mct=1``, one layer at a target bpp;
- ``jpeg``: Pillow (libjpeg-turbo), ``optimize=True`` (Huffman tables per image), 4:2:0
  chroma (4:4:4 needed 3.9% more bits for the same PSNR-RGB on 6 Kodak images, 0.2-2.4 bpp);
- ``webp``: libwebp via imagecodecs, ``method=6`` (slowest, best);
- ``avif``: libavif/aom via imagecodecs, 4:4:4, ``speed=4``: on kodim01 at quality 50
  (0.84 bpp), speed 2 gains 0.26 dB and speed 0 0.31 dB at the same rate, for 3.7x and 9.5x
  the encode time, which the shared 2 cores could not afford over all of Kodak;
- ``jxl``: libjxl via imagecodecs, ``effort=7`` (the default): effort 9 saves 1.3% of the
  bits at equal PSNR-RGB (6 Kodak images) for 3.7x the encode time, not affordable here.

``simulcast``: one independent single-layer learned code per layer (given one ``--model``
per layer, lowest rate first); layer k costs the sum of the first k files' bytes and shows
model k's decode. ``simulcast-resolutions`` is its spatial counterpart: model k codes level k
of :func:`rpncodec.pyramid.pyramid_images` (coarsest first), layer k costs the first k files'
bytes over layer k's own pixels.
"""

from __future__ import annotations

import io
import json
import math
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from ..bitstream import default_shifts, level_size
from ..errors import RpncodecError
from ..metrics import psnr
from ..pyramid import layer_references, pyramid_images
from ..zoo import LoadedModel
from .evaluate import msssim, readable_images, summarize

SPATIAL_LAYERS = 3  # reduce 2, 1, 0: 1/4, 1/2 and full resolution


def j2k_encode(image: np.ndarray, bpps: list[float], progression: str = "LRCP",
               plt: bool = False) -> bytes:
    """A J2K codestream with one quality layer per cumulative rate in ``bpps`` (irreversible
    9/7, ``mct=1``); an empty ``bpps`` codes without a rate limit. ``plt`` writes packet
    length markers (what :func:`resolution_prefix` reads)."""
    buf = io.BytesIO()
    rates = {"quality_mode": "rates", "quality_layers": [24.0 / b for b in bpps]} if bpps else {}
    Image.fromarray(image).save(buf, format="JPEG2000", irreversible=True, mct=1, no_jp2=True,
                                progression=progression, plt=plt, **rates)
    return buf.getvalue()


def j2k_decode(data: bytes, layers: int = 0, reduce: int = 0) -> np.ndarray:
    """Decode ``layers`` quality layers (0 = all) at resolution reduction ``reduce``.

    Pillow applies ``layers`` only together with ``reduce``, and its reduced size rounds where
    OpenJPEG's is ``ceil(side / 2**reduce)`` (a side of 4n + 1 at reduce 2 then fails to
    decode, Pillow 13), so the size and tile arguments are set here.
    """
    im = Image.open(io.BytesIO(data))
    tile = im.tile[0]
    mode, _, _, offset, length = tile.args
    im._size = tuple(-(-side // (1 << reduce)) for side in im.size)
    im.tile = [ImageFile._Tile(tile.codec_name, (0, 0, *im.size), tile.offset,
                               (mode, reduce, layers, offset, length))]
    im.load()
    return np.asarray(im.convert("RGB"))


def _row(reference: np.ndarray, out: np.ndarray, size: int, previous: int, layer: int,
         enc: float, dec: float, **extra: object) -> dict:
    """One per-image result row (the keys :func:`rpncodec.utils.evaluate.summarize` averages)."""
    return {"layer": layer, **extra, "bytes": size, "incremental_bytes": size - previous,
            "bpp": 8 * size / (reference.shape[0] * reference.shape[1]),
            "psnr": psnr(reference, out), "ms_ssim": msssim(reference, out),
            "encoding_time": enc, "decoding_time": dec}


def jpeg2000_layered(image: np.ndarray, bpps: list[float]) -> list[dict]:
    """Per layer: bytes, bpp, PSNR, MS-SSIM, times of a layered J2K stream at ``bpps``."""
    t0 = time.perf_counter()
    full = j2k_encode(image, bpps)
    enc = time.perf_counter() - t0
    rows, previous = [], 0
    for k in range(1, len(bpps) + 1):
        t0 = time.perf_counter()
        out = j2k_decode(full, k)
        dec = time.perf_counter() - t0
        prefix = full if k == len(bpps) else j2k_encode(image, bpps[:k])
        if not np.array_equal(j2k_decode(prefix), out):
            # OpenJPEG allocates nearly equal layer rates differently in the two streams;
            # measure the real k-layer file then, so bytes and pixels still belong together.
            out = j2k_decode(prefix)
        rows.append(_row(image, out, len(prefix), previous, k, enc, dec))
        previous = len(prefix)
    return rows


def resolution_prefix(data: bytes, reduce: int, components: int = 3) -> bytes:
    """The real file a decoder at ``reduce`` needs from a one-tile, one-quality-layer RLCP
    codestream written with PLT markers: the headers, the packets of the resolutions it
    decodes, and an end-of-codestream marker (the tile-part length is rewritten to match).

    The packet lengths come from the PLT marker; RLCP puts all packets of resolution r before
    those of r + 1. Returns ``data`` itself where the structure is not the expected one.
    """
    sot = data.find(b"\xff\x90", 2)
    sod = data.find(b"\xff\x93", sot)
    plt = data.find(b"\xff\x58", sot, sod)
    if min(sot, sod, plt) < 0 or reduce <= 0:
        return data
    (length,) = struct.unpack(">H", data[plt + 2:plt + 4])
    packets, value = [], 0
    for byte in data[plt + 5:plt + 2 + length]:  # skip the marker, length and Zplt
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            packets.append(value)
            value = 0
    resolutions = len(packets) // components
    if len(packets) % components or sod + 2 + sum(packets) + 2 != len(data) \
            or not 0 < reduce < resolutions:
        return data
    cut = sod + 2 + sum(packets[:components * (resolutions - reduce)])
    out = bytearray(data[:cut] + b"\xff\xd9")
    out[sot + 6:sot + 10] = struct.pack(">I", cut - sot)  # Psot: the tile-part's new length
    return bytes(out)


def jpeg2000_resolutions(image: np.ndarray, total_bpps: list[float]) -> list[dict]:
    """Per total rate (bpp of the full image) and layer (1/4, 1/2, full resolution): one
    resolution-progressive J2K codestream decoded at reduce 2, 1, 0 against the pyramid.

    Layer k's bytes are those of a real file: the codestream cut after the resolutions that
    reduce ``3 - k`` decodes (:func:`resolution_prefix`); its decode is what is measured."""
    references = pyramid_images(image, SPATIAL_LAYERS)
    unconstrained = j2k_encode(image, [], progression="RLCP")
    own = [j2k_decode(unconstrained, 0, SPATIAL_LAYERS - k) for k in range(1, SPATIAL_LAYERS + 1)]
    rows = []
    for total in total_bpps:
        t0 = time.perf_counter()
        data = j2k_encode(image, [total], progression="RLCP", plt=True)
        enc = time.perf_counter() - t0
        previous = 0
        for k, reference in enumerate(references, 1):
            part = resolution_prefix(data, SPATIAL_LAYERS - k)
            t0 = time.perf_counter()
            out = j2k_decode(part, 0, SPATIAL_LAYERS - k)
            dec = time.perf_counter() - t0
            rows.append(_row(reference, out, len(part), previous, k, enc, dec, setting=total,
                             psnr_own=psnr(own[k - 1], out)))
            previous = len(part)
    return rows


def jpeg2000_spatial_quality(image: np.ndarray, bpps: list[float],
                             shifts: tuple[int, ...]) -> list[dict]:
    """Per layer of a spatial-quality stream: one quality-layered J2K codestream (LRCP,
    irreversible, ``mct=1``) whose quality layer k ends at layer k's cumulative rate (``bpps``:
    over each layer's own pixels, as ``rpncodec eval`` reports them), decoded with its first k
    quality layers at ``reduce`` = the layer's shift, against the pyramid.

    Layer k's bytes and pixels are those of the real k-layer file (as
    :func:`jpeg2000_layered`); a reduced layer's ``psnr_own`` compares it with the same image
    coded without a rate limit and decoded at that reduce (J2K's own low-pass image)."""
    height, width = image.shape[:2]
    full = [b * math.prod(level_size(height, width, s)) / (height * width)
            for b, s in zip(bpps, shifts, strict=True)]  # the same bytes, per full-size pixel
    unconstrained = j2k_encode(image, [])
    t0 = time.perf_counter()
    stream = j2k_encode(image, full)
    enc = time.perf_counter() - t0
    rows, previous = [], 0
    for k, (reference, shift) in enumerate(zip(layer_references(image, shifts), shifts,
                                               strict=True), 1):
        prefix = stream if k == len(full) else j2k_encode(image, full[:k])
        t0 = time.perf_counter()
        out = j2k_decode(prefix, 0, shift)
        dec = time.perf_counter() - t0
        rows.append(_row(reference, out, len(prefix), previous, k, enc, dec,
                         psnr_own=psnr(j2k_decode(unconstrained, 0, shift), out)))
        previous = len(prefix)
    return rows


@dataclass(frozen=True)
class Sweep:
    """A single-layer codec swept over a setting (a rate or a quality)."""

    encode: Callable[[np.ndarray, float], bytes]
    decode: Callable[[bytes], np.ndarray]
    settings: tuple[float, ...]  # default grid, in order of rising rate
    describe: str


def _pillow_decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _jpeg(image: np.ndarray, quality: float) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality), optimize=True,
                                subsampling=2)
    return buf.getvalue()


def _imagecodecs():  # imported lazily: only the sweeps need it
    import imagecodecs

    return imagecodecs


def _webp(image: np.ndarray, quality: float) -> bytes:
    return _imagecodecs().webp_encode(image, level=float(quality), method=6, lossless=False)


def _avif(image: np.ndarray, quality: float) -> bytes:
    ic = _imagecodecs()
    return ic.avif_encode(image, level=int(quality), speed=AVIF_SPEED,
                          pixelformat=ic.AVIF.PIXEL_FORMAT.YUV444)


def _jxl(image: np.ndarray, quality: float) -> bytes:
    return _imagecodecs().jpegxl_encode(image, level=float(quality), effort=JXL_EFFORT)


AVIF_SPEED = 4
JXL_EFFORT = 7

SWEEPS: dict[str, Sweep] = {
    "jpeg2000": Sweep(lambda im, bpp: j2k_encode(im, [bpp]), j2k_decode,
                      (0.0625, 0.125, 0.25, 0.375, 0.5, 0.75, 1.0, 1.5, 2.0),
                      "OpenJPEG via Pillow, one layer, irreversible 9/7, mct=1; setting = "
                      "target bpp"),
    "jpeg": Sweep(_jpeg, _pillow_decode, (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95),
                  "Pillow (libjpeg-turbo), optimize=True, 4:2:0; setting = quality"),
    "webp": Sweep(_webp, lambda d: _imagecodecs().webp_decode(d),
                  (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90),
                  "libwebp via imagecodecs, method=6; setting = quality"),
    "avif": Sweep(_avif, lambda d: _imagecodecs().avif_decode(d),
                  (20, 35, 50, 60, 70, 80),
                  f"libavif (aom) via imagecodecs, 4:4:4, speed={AVIF_SPEED}; setting = quality"),
    "jxl": Sweep(_jxl, lambda d: _imagecodecs().jpegxl_decode(d),
                 (5, 15, 30, 45, 60, 75, 90),
                 f"libjxl via imagecodecs, effort={JXL_EFFORT}; setting = quality (level)"),
}

CODECS = ("jpeg2000-layered", "jpeg2000-resolutions", "jpeg2000-spatial-quality", *SWEEPS,
          "simulcast", "simulcast-resolutions")
MATCHED = ("jpeg2000-layered", "jpeg2000-resolutions", "jpeg2000-spatial-quality")  # --match


def sweep(image: np.ndarray, codec: str, settings: list[float]) -> list[dict]:
    """One row per setting: a single-layer file of ``image`` and its quality."""
    s = SWEEPS[codec]
    rows = []
    for setting in settings:
        t0 = time.perf_counter()
        data = s.encode(image, setting)
        enc = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = np.asarray(s.decode(data))[..., :3]
        dec = time.perf_counter() - t0
        rows.append(_row(image, out, len(data), 0, 1, enc, dec, setting=setting))
    return rows


def simulcast(image: np.ndarray, models: list[LoadedModel], resolutions: bool = False
              ) -> list[dict]:
    """Layer k: independent files of models 1..k (bytes added), shown by model k's decode;
    with ``resolutions``, model k codes the pyramid's level k (coarsest first)."""
    from .. import codec

    images = pyramid_images(image, len(models)) if resolutions else [image] * len(models)
    rows, total, enc_total = [], 0, 0.0
    for k, (loaded, reference) in enumerate(zip(models, images, strict=True), 1):
        t0 = time.perf_counter()
        data = codec.encode(reference, loaded)
        enc_total += time.perf_counter() - t0
        t0 = time.perf_counter()
        out = codec.decode(data, None, loaded).image
        dec = time.perf_counter() - t0
        rows.append(_row(reference, out, total + len(data), total, k, 0.0, dec))
        total += len(data)
    for row in rows:
        row["encoding_time"] = enc_total  # a simulcast sender encodes every layer
    return rows


def target_rates(match: str | None, bpps: list[float] | None,
                 ordered: bool = False) -> tuple[list[float], dict]:
    """Rates to allocate: mean and per-image cumulative bpps of an rpncodec eval JSON, or a
    fixed list, sorted unless ``ordered`` (per-layer rates over layers of different sizes
    need not rise)."""
    if match:
        try:
            report = json.loads(Path(match).read_text())
            mean = [float(b) for b in report["results"]["bpp"]]
            per = {name: [float(r["bpp"]) for r in rows]
                   for name, rows in report.get("per_image", {}).items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RpncodecError(f"cannot read rates from {match} ({exc})") from None
        return mean, per
    if not bpps:
        raise RpncodecError("give --match RESULTS.json or --bpp RATE [RATE ...]")
    return list(bpps) if ordered else sorted(bpps), {}


def run_anchor(folder: Path, codec: str, mean: list[float] | None = None,
               per_image: dict[str, list[float]] | None = None, keep_per_image: bool = False,
               settings: list[float] | None = None,
               models: list[LoadedModel] | None = None) -> dict:
    """Evaluate one anchor over a folder; the report has ``rpncodec eval``'s JSON shape.

    ``mean``/``per_image``: cumulative layer rates (``jpeg2000-layered``) or total rates
    (``jpeg2000-resolutions``: the last rate of a matched spatial result, else each rate is
    one point), per image where known. ``settings``: a sweep's grid (default: the codec's).
    ``models``: the simulcast's single-layer models, lowest rate first.
    """
    if codec not in CODECS:
        raise RpncodecError(f"unknown codec {codec!r}; choose from {', '.join(CODECS)}")
    per_image = per_image or {}
    skipped: list[str] = []
    if codec == "jpeg2000-layered":
        if not mean:
            raise RpncodecError("jpeg2000-layered needs --match RESULTS.json or --bpp RATES")
        how = "per-image rates of the matched results" if per_image else f"rates {mean}"
        mode, describe = "quality", (
            f"OpenJPEG via Pillow, one codestream, {len(mean)} quality layers (irreversible 9/7, "
            f"mct=1) at {how}; bytes of real k-layer files")

        def run(name: str, image: np.ndarray) -> list[dict]:
            return jpeg2000_layered(image, per_image.get(name, mean))
    elif codec == "jpeg2000-resolutions":
        if not mean:
            raise RpncodecError("jpeg2000-resolutions needs --match RESULTS.json or --bpp RATES")
        totals = {name: [rates[-1]] for name, rates in per_image.items()}
        grid = [mean[-1]] if per_image else list(mean)
        how = ("the per-image total rates of the matched results" if per_image
               else f"total rates {grid} bpp (full resolution)")
        mode, describe = "spatial", (
            "OpenJPEG via Pillow, one RLCP codestream (irreversible 9/7, mct=1) at "
            f"{how}, decoded at reduce 2, 1, 0 against the pyramid; bytes of the real file cut "
            "after the layer's resolutions, / the layer's pixels; psnr-own-rgb against the "
            "same stream decoded at an unconstrained rate")

        def run(name: str, image: np.ndarray) -> list[dict]:
            return jpeg2000_resolutions(image, totals.get(name, grid))
    elif codec == "jpeg2000-spatial-quality":
        if not mean:
            raise RpncodecError(f"{codec} needs --match RESULTS.json or --bpp RATES")
        shifts = default_shifts("spatial-quality", len(mean))
        how = "per-image rates of the matched results" if per_image else f"rates {mean}"
        mode, describe = "spatial-quality", (
            f"OpenJPEG via Pillow, one LRCP codestream, {len(mean)} quality layers "
            f"(irreversible 9/7, mct=1) at {how}, layer k decoded with k quality layers at "
            f"reduce {', '.join(map(str, shifts))} against the pyramid; bytes of real k-layer "
            "files, / the layer's pixels; psnr-own-rgb of a reduced layer against the image "
            "coded without a rate limit at that reduce")

        def run(name: str, image: np.ndarray) -> list[dict]:
            return jpeg2000_spatial_quality(image, per_image.get(name, mean), shifts)
    elif codec.startswith("simulcast"):
        if not models:
            raise RpncodecError(f"{codec} needs one --model per layer (lowest rate first)")
        spatial = codec == "simulcast-resolutions"
        mode, describe = ("spatial" if spatial else "quality"), (
            "independent single-layer learned codes, layer k = files of "
            f"{', '.join(m.name for m in models[:4])}{'...' if len(models) > 4 else ''} "
            f"up to k (bytes added){'; file k codes pyramid level k' if spatial else ''}; "
            "bpp from file bytes (headers included)")

        def run(name: str, image: np.ndarray) -> list[dict]:
            return simulcast(image, models, resolutions=spatial)
    else:
        grid = list(settings) if settings else list(SWEEPS[codec].settings)
        mode, describe = "single", f"{SWEEPS[codec].describe}; settings {grid}"

        def run(name: str, image: np.ndarray) -> list[dict]:
            return sweep(image, codec, grid)

    per = {}
    for name, image in readable_images(folder, skipped):
        per[name] = run(name, image)
        print(f"{codec} {name}: done", file=sys.stderr)
    describe += f"; {len(per)} images, {len(skipped)} skipped"
    return summarize(codec, describe, per, keep_per_image, mode=mode)
