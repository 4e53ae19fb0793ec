"""``rpncodec eval``: per-layer rate and quality over a folder, from real files.

bpp of layer k = 8 * (bytes of the file cut after layer k, header included) / pixels of layer
k's output (the full image in quality mode; a layer below full size, in the spatial modes,
decodes a level of the resolution pyramid and is compared with
:func:`rpncodec.pyramid.layer_references` of the original, so it divides by its own pixels).
PSNR is on the 8-bit RGB output; MS-SSIM (pytorch-msssim, 5 scales) needs both sides > 160
pixels and is null otherwise.

The JSON follows CompressAI's results shape (``name``, ``description``, ``results`` lists of
``bpp``, ``psnr-rgb``, ``ms-ssim-rgb``, ``encoding_time``, ``decoding_time``), one entry per
layer, plus ``bytes``, ``incremental_bytes`` and ``layer`` (1-based; a rate sweep is all 1s)
lists, and ``mode`` (``quality``, ``spatial``, ``spatial-quality`` or ``single``) so tools
know whether the entries are the layers of one stream or the points of a sweep.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from pytorch_msssim import ms_ssim

from .. import bitstream, codec
from ..errors import InputImageError, RpncodecError
from ..imageio import atomic_write_bytes, list_images, load_image
from ..metrics import capped, psnr  # psnr also re-exported for bench/codec_speed.py
from ..pyramid import layer_references
from ..zoo import LoadedModel

MSSSIM_MIN_SIDE = 161


def msssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """MS-SSIM of two uint8 images, or None when a side is too small for 5 scales.

    In float32: 4x faster than float64 on the CPU and within 1e-6 of it (Kodak, JPEG q20).
    """
    if min(a.shape[:2]) < MSSSIM_MIN_SIDE:
        return None
    ta, tb = (torch.tensor(v).permute(2, 0, 1)[None].float() for v in (a, b))
    return float(ms_ssim(ta, tb, data_range=255.0))


def evaluate_image(image: np.ndarray, loaded: LoadedModel,
                   outputs: dict | None = None, refine: int = 0) -> list[dict]:
    """Encode once, decode every layer; per layer: cumulative and incremental bytes, bpp,
    PSNR, MS-SSIM, times (encode time is the one encode of all layers).

    A layer below full size (spatial, spatial-quality) is compared with ``image`` halved as
    many times by the pyramid (``layer_references``), and its bpp divides by its own
    pixels. When ``outputs`` is given, it receives the encoded file
    (``"data"``) and the decoded image of every layer (``"layers"``), for callers that write
    them out. ``refine``: latent refinement steps of the encode (:mod:`rpncodec.models.refine`).
    """
    t0 = time.perf_counter()
    data = codec.encode(image, loaded, refine=refine)
    enc = time.perf_counter() - t0
    container = bitstream.parse(data)
    references = layer_references(image, container.header.shifts)
    rows, previous = [], 0
    for k, reference in enumerate(references, 1):
        t0 = time.perf_counter()
        out = codec.decode(data, k, loaded).image
        dec = time.perf_counter() - t0
        size = bitstream.prefix_size(container, k)
        pixels = reference.shape[0] * reference.shape[1]
        rows.append({"layer": k, "bytes": size, "incremental_bytes": size - previous,
                     "bpp": 8 * size / pixels, "psnr": psnr(reference, out),
                     "ms_ssim": msssim(reference, out), "encoding_time": enc,
                     "decoding_time": dec})
        previous = size
        if outputs is not None:
            outputs.setdefault("layers", []).append(out)
    if outputs is not None:
        outputs["data"] = data
    return rows


def evaluate_folder(folder: Path, loaded: LoadedModel, per_image: bool = False,
                    refine: int = 0) -> dict:
    """Mean per-layer figures over every readable image in ``folder`` (CompressAI JSON shape),
    encoded with ``refine`` steps of latent refinement."""
    per, skipped = {}, []
    for name, image in readable_images(folder, skipped):
        per[name] = evaluate_image(image, loaded, refine=refine)
        last = per[name][-1]
        print(f"{name}: top layer {last['bpp']:.4f} bpp {last['psnr']:.2f} dB", file=sys.stderr)
    spatial = (" (/ each layer's own pixels)" if len(set(loaded.config.layer_shifts)) > 1
               else "")
    refined = f", latents refined {refine} steps" if refine else ""
    return summarize(loaded.name + (f"+refine{refine}" if refine else ""), (
        f"rpncodec {loaded.config.mode} model {loaded.name}{refined}; bpp from file bytes (header "
        f"included){spatial}, {len(per)} images, {len(skipped)} skipped"), per, per_image,
        mode=loaded.config.mode)


def evaluate_sweep(folder: Path, models: list[LoadedModel], name: str,
                   per_image: bool = False) -> dict:
    """Single-layer models as one rate sweep (setting k = the k-th model), the learned
    counterpart of a classical codec's quality sweep."""
    for m in models:
        if m.config.mode != "single":
            raise RpncodecError(f"a sweep takes single-layer models; {m.name} is "
                                f"{m.config.mode}")
    per, skipped = {}, []
    for image_name, image in readable_images(folder, skipped):
        per[image_name] = [{**evaluate_image(image, m)[0], "setting": k}
                           for k, m in enumerate(models, 1)]
        print(f"{image_name}: done", file=sys.stderr)
    return summarize(name, (
        f"single-layer rpncodec models {', '.join(m.name for m in models)} as one sweep "
        f"(setting k = k-th model); bpp from file bytes (header included), {len(per)} images, "
        f"{len(skipped)} skipped"), per, per_image, mode="single")


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


# per-image row key -> results key (CompressAI's names where it has them)
MEAN_KEYS = {"bpp": "bpp", "psnr": "psnr-rgb", "ms_ssim": "ms-ssim-rgb",
             "encoding_time": "encoding_time", "decoding_time": "decoding_time",
             "bytes": "bytes", "incremental_bytes": "incremental_bytes",
             "psnr_own": "psnr-own-rgb"}
# per-image row keys that label an entry (the same for every image), copied from the first
LABEL_KEYS = ("layer", "setting")


def summarize(name: str, description: str, per: dict[str, list[dict]],
              keep_per_image: bool, mode: str = "quality") -> dict:
    """Mean of per-image rows (one per layer or rate point) in CompressAI's results shape.

    A value is null where any image has none (e.g. MS-SSIM of small images); keys absent from
    the rows are left out. PSNRs count up to :data:`rpncodec.metrics.PSNR_CAP` in the means
    (a lossless layer's is infinite; the per-image rows keep it). ``mode`` says what the
    entries are: the layers of one ``quality`` or ``spatial`` stream, or the rate points of a
    ``single``-layer sweep.
    """
    first = next(iter(per.values()))
    results: dict[str, list] = {}
    for key in LABEL_KEYS:
        if key in first[0]:
            results[key] = [row[key] for row in first]
    for key, out_key in MEAN_KEYS.items():
        if key not in first[0]:
            continue
        results[out_key] = []
        for k in range(len(first)):
            values = [rows[k][key] for rows in per.values()]
            if None in values:
                results[out_key].append(None)
                continue
            if key.startswith("psnr"):
                values = [capped(v) for v in values]
            results[out_key].append(float(np.mean(values)))
    report = {"name": name, "description": description, "mode": mode, "results": results}
    if keep_per_image:
        report["per_image"] = per
    return report


def write_json(report: dict, path: str | Path) -> None:
    """Write a results report as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(report, indent=2) + "\n").encode())


def format_table(report: dict) -> str:
    """A results report as a small text table: one line per layer or rate point."""
    r = report["results"]
    n = len(r["bpp"])
    layers = r.get("layer", list(range(1, n + 1)))
    settings = r.get("setting")
    lines = [f"{report['name']}: {report['description']}",
             ("setting " if settings else "") + "layer  bytes     bpp      PSNR-RGB  MS-SSIM  "
             "enc s   dec s"]
    for i in range(n):
        ms = "   -  " if r["ms-ssim-rgb"][i] is None else f"{r['ms-ssim-rgb'][i]:.4f}"
        size = f"{r['bytes'][i]:>8.0f}" if "bytes" in r else "       -"
        lines.append((f"{settings[i]:>7g} " if settings else "")
                     + f"{layers[i]:>5}  {size}  {r['bpp'][i]:.4f}  {r['psnr-rgb'][i]:8.3f}  "
                     f"{ms}   {r['encoding_time'][i]:.3f}   {r['decoding_time'][i]:.3f}")
    return "\n".join(lines)
