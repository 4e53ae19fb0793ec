"""What every generator of the non-photographic data set shares: one sample's record, the
fonts it may use, and deterministic random sources."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype"))
# Debian packages the generators read; build.py records their installed versions.
DEBIAN_PACKAGES = {
    "fonts-dejavu-core": "Bitstream Vera / public domain additions (DejaVu licence)",
    "fonts-dejavu-extra": "Bitstream Vera / public domain additions (DejaVu licence)",
    "fonts-liberation2": "SIL Open Font License 1.1",
    "fonts-firacode": "SIL Open Font License 1.1",
    "fonts-noto-mono": "SIL Open Font License 1.1",
    "openclipart-svg": "Public domain (Creative Commons Public Domain Dedication)",
    "librsvg2-bin": "LGPL-2.1+ (the rasteriser, not a source of pixels)",
    "chromium": "BSD-3-Clause (the renderer, not a source of pixels)",
}


@dataclass
class Sample:
    """One generated image and where its content came from."""

    category: str
    name: str
    image: Image.Image
    source: str
    license: str


def rng(category: str, index: int) -> np.random.Generator:
    """The same numbers for the same sample on every run and machine."""
    return np.random.default_rng([sum(map(ord, category)), index])


def fonts(kind: str) -> list[Path]:
    """Installed TrueType fonts: ``mono`` (fixed width) or ``text`` (everything else)."""
    found = sorted(p for d in FONT_DIRS if d.is_dir() for p in d.rglob("*.[ot]tf"))
    mono = [p for p in found if "Mono" in p.name or "Fira" in p.name]
    if kind == "mono":
        return mono
    return [p for p in found if p not in mono and "Math" not in p.name]


def font(paths: list[Path], gen: np.random.Generator, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(paths[int(gen.integers(len(paths)))]), size)


def palette(gen: np.random.Generator, n: int, saturated: bool = True) -> list[tuple[int, ...]]:
    """``n`` random colours; saturated ones sit near the edges of the RGB cube."""
    cols = gen.integers(0, 256, size=(n, 3))
    if saturated:
        cols[np.arange(n), gen.integers(3, size=n)] = gen.choice([0, 255], size=n)
    return [tuple(int(v) for v in c) for c in cols]


def run(cmd: list[str], timeout: float = 60) -> None:
    """Run an external renderer; its failure is the caller's to skip."""
    subprocess.run(cmd, check=True, timeout=timeout, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
