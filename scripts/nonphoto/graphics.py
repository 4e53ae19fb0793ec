"""Flat-colour graphics drawn with Pillow: grids of flat saturated squares (like the IIIF
validator's test image), slides, maps of flat regions with borders and labels, and
scanned-looking text pages (tinted paper, slight rotation, blur and noise)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from common import Sample, font, fonts, palette, rng
from PIL import Image, ImageDraw, ImageFilter
from text import STDLIB, _docstrings, _wrap

LICENSE = "generated (Pillow drawing); text from Python standard library docstrings (PSF)"


def grid(index: int) -> Sample:
    gen = rng("flat", index)
    n = int(gen.integers(3, 13))
    cell = int(gen.integers(40, 120))
    cols = palette(gen, n * n, saturated=bool(gen.integers(2)) or index % 3 == 0)
    im = Image.new("RGB", (n * cell, n * cell))
    draw = ImageDraw.Draw(im)
    for k, c in enumerate(cols):
        x, y = k % n * cell, k // n * cell
        draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=c)
    return Sample("flat", f"grid-{index:03d}", im, f"{n}x{n} squares of {cell} px", LICENSE)


def slide(index: int) -> Sample:
    gen = rng("slides", index)
    w, h = [(1024, 576), (960, 720), (800, 600), (1280, 720)][index % 4]
    bg, accent, box = palette(gen, 3, saturated=True)
    if gen.integers(2):
        bg = (255, 255, 255) if gen.integers(2) else (24, 24, 32)
    fg = (255, 255, 255) if sum(bg) < 300 else (20, 20, 20)
    im = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, 0, w, int(h * 0.16)], fill=accent)
    draw.text((30, int(h * 0.04)), f"Slide {index + 1}: results and next steps",
              font=font(fonts("text"), gen, int(h * 0.06)), fill=(255, 255, 255))
    body = font(fonts("text"), gen, int(h * 0.04))
    for k in range(int(gen.integers(3, 6))):
        y = int(h * (0.24 + 0.11 * k))
        draw.ellipse([40, y + 8, 52, y + 20], fill=accent)
        draw.text((66, y), f"Point {k + 1}: {int(gen.integers(2, 99))}% of the target",
                  font=body, fill=fg)
    x0 = int(w * 0.62)
    vals = gen.uniform(0.2, 1, size=4)
    for k, v in enumerate(vals):  # a small bar chart of flat boxes
        x = x0 + k * int(w * 0.08)
        draw.rectangle([x, int(h * (0.9 - 0.55 * v)), x + int(w * 0.06), int(h * 0.9)],
                       fill=box if k % 2 else accent, outline=fg)
    return Sample("slides", f"slide-{index:03d}", im, "generated slide", LICENSE)


def map_(index: int) -> Sample:
    gen = rng("maps", index)
    w, h = int(gen.integers(512, 1025)), int(gen.integers(384, 769))
    seeds = gen.uniform([0, 0], [w, h], size=(int(gen.integers(8, 40)), 2))
    yy, xx = np.mgrid[0:h, 0:w]
    d = (xx[..., None] - seeds[:, 0]) ** 2 + (yy[..., None] - seeds[:, 1]) ** 2
    region = d.argmin(-1)
    cols = np.array(palette(gen, len(seeds), saturated=False)) // 2 + 110  # muted map tints
    a = cols[region].astype(np.uint8)
    edge = (np.diff(region, axis=0, prepend=region[:1]) != 0) | (
        np.diff(region, axis=1, prepend=region[:, :1]) != 0)
    a[edge] = (90, 90, 90)
    im = Image.fromarray(a)
    draw = ImageDraw.Draw(im)
    for _ in range(int(gen.integers(2, 6))):  # roads and rivers
        pts = [tuple(p) for p in gen.uniform([0, 0], [w, h], size=(4, 2))]
        draw.line(pts, fill=(40, 90, 200) if gen.integers(2) else (230, 160, 40),
                  width=int(gen.integers(2, 6)))
    lab = font(fonts("text"), gen, int(gen.integers(10, 16)))
    for k, (x, y) in enumerate(seeds):
        draw.text((x, y), f"Region {k + 1}", font=lab, fill=(20, 20, 20))
    return Sample("maps", f"map-{index:03d}", im, f"{len(seeds)} Voronoi regions", LICENSE)


def scan(index: int) -> Sample:
    gen = rng("scans", index)
    w, h = int(gen.integers(600, 900)), int(gen.integers(700, 1000))
    paper = tuple(int(v) for v in gen.integers(225, 250, size=3))
    im = Image.new("RGB", (w, h), paper)
    draw = ImageDraw.Draw(im)
    size = int(gen.integers(12, 20))
    body = font([p for p in fonts("text") if "Serif" in p.name], gen, size)
    modules = sorted(p for p in STDLIB.glob("*.py") if p.stat().st_size > 20000)
    docs = _docstrings(modules[int(gen.integers(len(modules)))])
    y, ink = 50, tuple(int(v) for v in gen.integers(10, 60, size=3))
    for line in (ln for d in docs for ln in _wrap(draw, d, body, w - 120)):
        if y > h - 60:
            break
        draw.text((60, y), line, font=body, fill=ink)
        y += int(size * 1.4)
    im = im.rotate(float(gen.uniform(-1.5, 1.5)), resample=Image.BICUBIC, fillcolor=paper)
    im = im.filter(ImageFilter.GaussianBlur(float(gen.uniform(0.3, 0.9))))
    a = np.asarray(im).astype(np.float32) + gen.normal(0, float(gen.uniform(2, 6)), (h, w, 1))
    return Sample("scans", f"scan-{index:03d}", Image.fromarray(a.clip(0, 255).astype(np.uint8)),
                  "generated page, scanned look", LICENSE)


def generate(kind: str, count: int) -> Iterator[Sample]:
    make = {"flat": grid, "slides": slide, "maps": map_, "scans": scan}[kind]
    for i in range(count):
        yield make(i)
