"""Classical anchors in the same JSON shape as ``rpncodec eval``.

``jpeg2000-layered``: one OpenJPEG codestream (Pillow; irreversible 9/7, colour transform on
with ``mct=1``, LRCP) whose quality layers are allocated at given cumulative rates, decoded
with 1..L layers: the quality-scalable anchor. The bytes of layer k are measured on a real file:
the same image coded with only the first k layer rates, which decodes pixel-identically to the
full codestream cut to k layers (checked on every image; where OpenJPEG allocates nearly equal
layer rates differently, the k-layer file's own decode is used, so bytes and pixels always
come from one real file).
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from .errors import RpncodecError
from .evaluate import msssim, psnr, readable_images, summarize

CODECS = ("jpeg2000-layered",)


def j2k_encode(image: np.ndarray, bpps: list[float]) -> bytes:
    """A J2K codestream with one quality layer per cumulative rate in ``bpps``."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG2000", quality_mode="rates",
                                quality_layers=[24.0 / b for b in bpps], irreversible=True,
                                mct=1, no_jp2=True)
    return buf.getvalue()


def j2k_decode(data: bytes, layers: int = 0, reduce: int = 0) -> np.ndarray:
    """Decode ``layers`` quality layers (0 = all) at resolution reduction ``reduce``.

    Pillow applies ``layers`` only together with ``reduce``, so the tile arguments are set here.
    """
    im = Image.open(io.BytesIO(data))
    tile = im.tile[0]
    mode, _, _, offset, length = tile.args
    if reduce:
        im.reduce = reduce  # Pillow updates the size and tile itself
        im.layers = layers
    else:
        im.tile = [ImageFile._Tile(tile.codec_name, tile.extents, tile.offset,
                                   (mode, 0, layers, offset, length))]
    im.load()
    return np.asarray(im.convert("RGB"))


def jpeg2000_layered(image: np.ndarray, bpps: list[float]) -> list[dict]:
    """Per layer: bytes, bpp, PSNR, MS-SSIM, times of a layered J2K stream at ``bpps``."""
    t0 = time.perf_counter()
    full = j2k_encode(image, bpps)
    enc = time.perf_counter() - t0
    pixels = image.shape[0] * image.shape[1]
    rows = []
    for k in range(1, len(bpps) + 1):
        t0 = time.perf_counter()
        out = j2k_decode(full, k)
        dec = time.perf_counter() - t0
        prefix = full if k == len(bpps) else j2k_encode(image, bpps[:k])
        if not np.array_equal(j2k_decode(prefix), out):
            # OpenJPEG allocates nearly equal layer rates differently in the two streams;
            # measure the real k-layer file then, so bytes and pixels still belong together.
            out = j2k_decode(prefix)
        rows.append({"bytes": len(prefix), "bpp": 8 * len(prefix) / pixels,
                     "psnr": psnr(image, out), "ms_ssim": msssim(image, out),
                     "encoding_time": enc, "decoding_time": dec})
    return rows


def target_rates(match: str | None, bpps: list[float] | None) -> tuple[list[float], dict]:
    """Rates to allocate: mean and per-image cumulative bpps of an rpncodec eval JSON, or a
    fixed list."""
    if match:
        try:
            report = json.loads(Path(match).read_text())
            mean = [float(b) for b in report["results"]["bpp"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RpncodecError(f"cannot read rates from {match} ({exc})") from None
        per = {name: [r["bpp"] for r in rows] for name, rows in report.get("per_image", {}).items()}
        return mean, per
    if not bpps:
        raise RpncodecError("give --match RESULTS.json or --bpp RATE [RATE ...]")
    return sorted(bpps), {}


def run_anchor(folder: Path, codec: str, mean: list[float], per_image: dict[str, list[float]],
               keep_per_image: bool = False) -> dict:
    """Evaluate one anchor codec over a folder (per-image rates where known)."""
    if codec not in CODECS:
        raise RpncodecError(f"unknown codec {codec!r}; choose from {', '.join(CODECS)}")
    per = {name: jpeg2000_layered(image, per_image.get(name, mean))
           for name, image in readable_images(folder)}
    how = "per-image rates of the matched results" if per_image else f"rates {mean}"
    return summarize(codec, f"OpenJPEG via Pillow, one codestream, {len(mean)} quality layers "
                     f"(irreversible 9/7, mct=1) at {how}; bytes of real k-layer files",
                     per, keep_per_image)
