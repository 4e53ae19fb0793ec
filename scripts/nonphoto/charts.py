"""Charts and plots drawn by matplotlib from random data: lines, bars, scatter, histograms,
pies, heat maps and areas, in matplotlib's bundled styles."""

from __future__ import annotations

import io
from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from common import Sample, rng
from PIL import Image

STYLES = ["default", "ggplot", "bmh", "fivethirtyeight", "dark_background", "grayscale",
          "seaborn-v0_8-whitegrid", "seaborn-v0_8-darkgrid", "Solarize_Light2",
          "tableau-colorblind10"]
KINDS = ["line", "bar", "scatter", "hist", "pie", "heatmap", "area", "barh"]
LICENSE = "generated (matplotlib, PSF-based licence); random data"


def _draw(ax, kind: str, gen: np.random.Generator) -> None:
    n = int(gen.integers(3, 9))
    labels = [f"Q{i + 1}" if gen.integers(2) else f"item {i + 1}" for i in range(n)]
    if kind == "line":
        x = np.arange(int(gen.integers(10, 60)))
        for k in range(int(gen.integers(1, 5))):
            ax.plot(x, np.cumsum(gen.normal(size=x.size)) + 5 * k, label=f"series {k + 1}",
                    marker="o" if gen.integers(2) else None, lw=float(gen.uniform(1, 3)))
        ax.legend()
    elif kind in ("bar", "barh"):
        vals = gen.uniform(1, 100, size=n)
        (ax.bar if kind == "bar" else ax.barh)(labels, vals, color=f"C{int(gen.integers(10))}")
    elif kind == "scatter":
        for k in range(int(gen.integers(1, 4))):
            ax.scatter(*gen.normal(k, 1, size=(2, int(gen.integers(20, 200)))),
                       s=float(gen.uniform(5, 60)), alpha=float(gen.uniform(0.5, 1)))
    elif kind == "hist":
        ax.hist(gen.normal(size=500), bins=int(gen.integers(10, 40)), edgecolor="black")
    elif kind == "pie":
        ax.pie(gen.uniform(1, 10, size=n), labels=labels, autopct="%1.0f%%")
    elif kind == "heatmap":
        data = gen.uniform(size=(n, n))
        ax.imshow(data, cmap=["viridis", "Blues", "RdBu", "magma"][int(gen.integers(4))])
        if gen.integers(2):
            for (i, j), v in np.ndenumerate(data):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=8)
    else:
        x = np.arange(20)
        ax.stackplot(x, *np.abs(gen.normal(2, 1, size=(int(gen.integers(2, 5)), 20))))
    ax.set_title(f"Figure {int(gen.integers(1, 30))}: {kind} of random data")


def chart(index: int) -> Sample:
    gen = rng("charts", index)
    style, kind = STYLES[index % len(STYLES)], KINDS[(index // len(STYLES) + index) % len(KINDS)]
    with plt.style.context(style):
        fig, ax = plt.subplots(figsize=(float(gen.uniform(5, 10)), float(gen.uniform(3.5, 7))),
                               dpi=int(gen.choice([80, 100, 120])))
        _draw(ax, kind, gen)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
    im = Image.open(buf).convert("RGB")
    return Sample("charts", f"chart-{index:03d}", im, f"matplotlib {kind}, style {style}",
                  LICENSE)


def generate(count: int) -> Iterator[Sample]:
    for i in range(count):
        yield chart(i)
