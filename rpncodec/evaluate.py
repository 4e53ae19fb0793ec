"""``rpncodec eval``: per-layer rate and quality over a folder, from real files.

bpp of layer k = 8 * (bytes of the file cut after layer k, header included) / pixels.
PSNR is on the 8-bit RGB output; MS-SSIM (pytorch-msssim, 5 scales) needs both sides > 160
pixels and is null otherwise. The JSON follows CompressAI's results shape, one entry per layer.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from pytorch_msssim import ms_ssim

from . import bitstream, codec
from .data import list_images
from .errors import InputImageError, RpncodecError
from .imageio import atomic_write_bytes, load_image
from .zoo import LoadedModel

MSSSIM_MIN_SIDE = 161


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def msssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """MS-SSIM of two uint8 images, or None when a side is too small for 5 scales."""
    if min(a.shape[:2]) < MSSSIM_MIN_SIDE:
        return None
    ta, tb = (torch.tensor(v).permute(2, 0, 1)[None].double() for v in (a, b))
    return float(ms_ssim(ta, tb, data_range=255.0))


def evaluate_image(image: np.ndarray, loaded: LoadedModel,
                   outputs: dict | None = None) -> list[dict]:
    """Encode once, decode every layer; per layer: bytes, bpp, PSNR, MS-SSIM, times.

    When ``outputs`` is given, it receives the encoded file (``"data"``) and the decoded image
    of every layer (``"layers"``), for callers that write them out.
    """
    t0 = time.perf_counter()
    data = codec.encode(image, loaded)
    enc = time.perf_counter() - t0
    container = bitstream.parse(data)
    pixels = image.shape[0] * image.shape[1]
    rows = []
    for k in range(1, container.header.layers + 1):
        t0 = time.perf_counter()
        out = codec.decode(data, k, loaded).image
        dec = time.perf_counter() - t0
        size = bitstream.prefix_size(container, k)
        rows.append({"bytes": size, "bpp": 8 * size / pixels, "psnr": psnr(image, out),
                     "ms_ssim": msssim(image, out), "encoding_time": enc, "decoding_time": dec})
        if outputs is not None:
            outputs.setdefault("layers", []).append(out)
    if outputs is not None:
        outputs["data"] = data
    return rows


def evaluate_folder(folder: Path, loaded: LoadedModel, per_image: bool = False) -> dict:
    """Mean per-layer figures over every readable image in ``folder`` (CompressAI JSON shape)."""
    per, skipped = {}, []
    for name, image in readable_images(folder, skipped):
        per[name] = evaluate_image(image, loaded)
        last = per[name][-1]
        print(f"{name}: top layer {last['bpp']:.4f} bpp {last['psnr']:.2f} dB", file=sys.stderr)
    return summarize(loaded.name, (
        f"rpncodec {loaded.config.mode} model {loaded.name}; bpp from file bytes (header "
        f"included), {len(per)} images, {len(skipped)} skipped"), per, per_image)


def readable_images(folder: Path, skipped: list[str] | None = None
                    ) -> Iterator[tuple[str, np.ndarray]]:
    """(file name, RGB image) for every image in ``folder``; unreadable files are skipped with
    a warning (and their names appended to ``skipped``); no readable image is an error."""
    files = list_images(folder) if folder.is_dir() else []
    if not files:
        raise RpncodecError(f"no images found in {folder}")
    read = 0
    for f in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = load_image(f)
        except InputImageError as exc:
            print(f"rpncodec: warning: skipped {exc}", file=sys.stderr)
            if skipped is not None:
                skipped.append(f.name)
            continue
        read += 1
        yield f.name, image
    if not read:
        raise RpncodecError(f"none of the {len(files)} files in {folder} could be read")


def summarize(name: str, description: str, per: dict[str, list[dict]],
              keep_per_image: bool) -> dict:
    """Mean of per-image, per-layer rows in CompressAI's results shape (null where any image
    has no value, e.g. MS-SSIM of small images)."""
    layers = len(next(iter(per.values())))
    keys = {"bpp": "bpp", "psnr": "psnr-rgb", "ms_ssim": "ms-ssim-rgb",
            "encoding_time": "encoding_time", "decoding_time": "decoding_time"}
    results = {}
    for key, out_key in keys.items():
        results[out_key] = []
        for k in range(layers):
            values = [rows[k][key] for rows in per.values()]
            results[out_key].append(None if None in values else float(np.mean(values)))
    report = {"name": name, "description": description, "results": results}
    if keep_per_image:
        report["per_image"] = per
    return report


def write_json(report: dict, path: str | Path) -> None:
    atomic_write_bytes(path, (json.dumps(report, indent=2) + "\n").encode())
