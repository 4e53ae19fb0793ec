"""Line art and drawings: Open Clip Art Library SVGs (Debian's openclipart-svg, public
domain) rasterised by librsvg at a random width on white or a light tint."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from common import Sample, rng, run
from PIL import Image

CLIPART = Path("/usr/share/openclipart/svg")
LICENSE = "Public domain (Open Clip Art Library, Debian openclipart-svg)"


def _files() -> list[Path]:
    return sorted(p for p in CLIPART.rglob("*.svg") if 3000 < p.stat().st_size < 2_000_000)


def drawing(index: int, files: list[Path]) -> Sample | None:
    gen = rng("lineart", index)
    svg = files[int(gen.integers(len(files)))]
    width = int(gen.integers(384, 1025))
    bg = "white" if gen.integers(3) else ["#fdf6e3", "#eef3f8", "#f4f4f4"][int(gen.integers(3))]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "a.png"
        try:
            run(["rsvg-convert", "-w", str(width), "-b", bg, "-o", str(out), str(svg)], 30)
            im = Image.open(out).convert("RGB")
        except Exception:
            return None
    a = np.asarray(im)
    if min(im.size) < 128 or max(im.size) > 2048 or a.std() < 8:
        return None  # degenerate: tiny, huge or nearly empty
    return Sample("lineart", f"lineart-{index:03d}", im, str(svg.relative_to(CLIPART)), LICENSE)


def generate(count: int) -> Iterator[Sample]:
    files = _files()
    index = made = 0
    while made < count and index < 20 * count:
        s = drawing(index, files)
        index += 1
        if s is not None:
            made += 1
            yield s
