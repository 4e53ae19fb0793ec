"""The README's rate-distortion plot of the default models, from the committed results.

Kodak, PSNR-RGB against bpp: ``rpn-quality-cond`` (its four layers) with the layered JPEG 2000
codestream cut at the same bytes, and ``rpn-spatial-cond`` at full resolution with the JPEG 2000
sweep, beside the classical single-layer sweeps.

    .venv/bin/python scripts/rd_plot.py [-o docs/assets/rd-defaults.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT / "results" / "kodak"
CURVES = [  # file, label, style
    ("rpn-quality-cond", "rpn-quality-cond (layers 1-4)", "o-"),
    ("jpeg2000-layered", "JPEG 2000 layered, same bytes", "s--"),
    ("jpeg2000", "JPEG 2000 (OpenJPEG, mct=1)", "-"),
    ("avif", "AVIF (libavif, speed 4)", "-"),
    ("webp", "WebP (method 6)", "-"),
    ("jpeg", "JPEG (libjpeg-turbo)", "-"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "assets" / "rd-defaults.png"))
    args = parser.parse_args()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for name, label, style in CURVES:
        r = json.loads((KODAK / f"{name}.json").read_text())["results"]
        ax.plot(r["bpp"], r["psnr-rgb"], style, label=label, markersize=4,
                linewidth=2 if name.startswith("rpn") else 1)
    spatial = json.loads((KODAK / "rpn-spatial-cond.json").read_text())["results"]
    ax.plot(spatial["bpp"][-1:], spatial["psnr-rgb"][-1:], "D", label="rpn-spatial-cond "
            "(full resolution)", markersize=6)
    ax.set(xlabel="bpp (bytes of the file up to the layer x 8 / pixels)", ylabel="PSNR-RGB (dB)",
           title="Kodak, 24 images", xlim=(0, 1.2), ylim=(25, 38))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(args.output)
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
