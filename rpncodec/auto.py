"""``--model auto``: code an image with each candidate model of its mode and keep the file
that codes it best.

The candidates are the shipped models of the mode that the registry marks for it (today a
photograph model and a screen-content model, whose files every decoder reads, since the
header names the model). "Best" compares the candidates' whole rate-distortion curves, not one
point: each file gives one (bits per pixel, PSNR) point per layer, and the winner is the file
with the higher mean PSNR over the range of log rates both curves span (piecewise-linear
BD-PSNR over whole layers). Where the curves do not overlap, the top layers are compared at
:data:`DB_PER_DOUBLING` dB per doubling of rate. Choosing costs one encode and one decode of
every layer per candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import bitstream
from .backend import Coder
from .errors import ModelError
from .metrics import capped, psnr
from .registry import REGISTRY

DB_PER_DOUBLING = 5.0  # typical slope of image codecs' curves at these rates


@dataclass
class Candidate:
    """One model's file for the image and its measured curve."""

    coder: Coder
    data: bytes
    points: list[tuple[float, float]]  # (bpp, PSNR) per layer, lowest first


def candidates(mode: str) -> list[str]:
    """The shipped models ``auto`` chooses among in ``mode`` (the default one first)."""
    names = [e.name for e in REGISTRY.values() if e.mode == mode and e.auto]
    if not names:
        raise ModelError(f"--model auto has no candidate models in {mode} mode")
    return sorted(names, key=lambda n: not REGISTRY[n].default)


def measure(image: np.ndarray, coder: Coder, data: bytes) -> list[tuple[float, float]]:
    """(bpp, PSNR) of every layer of ``data``, decoded with ``coder`` (quality mode: every
    layer is the full-size image)."""
    from .codec import decode

    container = bitstream.parse(data)
    pixels = image.shape[0] * image.shape[1]
    return [(8 * bitstream.prefix_size(container, k) / pixels,
             psnr(image, decode(data, k, coder).image))
            for k in range(1, container.header.layers + 1)]


def bd_psnr(test: list[tuple[float, float]], anchor: list[tuple[float, float]]) -> float:
    """Mean PSNR of ``test`` minus ``anchor`` over the log-rate range both span (linear
    between points); without overlap, the top points compared at DB_PER_DOUBLING. PSNRs
    count up to :data:`rpncodec.metrics.PSNR_CAP` (a lossless layer is infinite)."""
    test, anchor = ([(r, capped(q)) for r, q in c] for c in (test, anchor))
    lt, la = (np.log2([p[0] for p in c]) for c in (test, anchor))
    lo, hi = max(lt.min(), la.min()), min(lt.max(), la.max())
    if hi <= lo:
        (rt, qt), (ra, qa) = test[-1], anchor[-1]
        return qt - qa - DB_PER_DOUBLING * float(np.log2(rt / ra))
    grid = np.linspace(lo, hi, 64)
    qt = np.interp(grid, lt, [p[1] for p in test])
    qa = np.interp(grid, la, [p[1] for p in anchor])
    return float(np.mean(qt - qa))


def choose(image: np.ndarray, coders: list[Coder], encode_one) -> Candidate:
    """The candidate whose file codes ``image`` best; ``encode_one(image, coder)`` writes a
    file. Ties keep the first (the default model); a single coder is not measured."""
    if image.shape[0] * image.shape[1] == 0 or not coders:
        raise ModelError("--model auto needs an image and at least one model")
    if len(coders) == 1:
        return Candidate(coders[0], encode_one(image, coders[0]), [])
    best: Candidate | None = None
    for coder in coders:
        data = encode_one(image, coder)
        cand = Candidate(coder, data, measure(image, coder, data))
        if best is None or bd_psnr(cand.points, best.points) > 0:
            best = cand
    return best
