"""Would a deadzone quantizer make residual layers better at the same bytes? Measured on the
train part of the non-photographic data set (never the test part).

    .venv/bin/python scripts/residual_deadzone_probe.py [--offsets 0.5 0.42 0.35]

For each image (3 per category of text, UI, charts and line art, the 41st-43rd of each train
folder) the shipped ``rpn-quality-screen`` codes the learned layers; then a residual layer
over learned layer 3 gets learned layer 4's bytes (ideal code lengths,
``residual_layers.estimate_bits``), with ``q = sign(r) floor(|r| / d + offset)``: 0.5 is the
encoder's rounding, smaller offsets zero more small residuals. The finest step that fits
wins; prints its PSNR per image and offset, and the means. Only the encoder would change: the
decoder reads any ``q``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rpncodec import bitstream, codec, residual_layers
from rpncodec.backend import open_model
from rpncodec.imageio import load_image
from rpncodec.metrics import psnr

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ("text", "ui", "charts", "lineart")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--offsets", type=float, nargs="+", default=[0.5, 0.42, 0.35])
    p.add_argument("--data", type=Path, default=ROOT / ".data" / "nonphoto" / "train")
    args = p.parse_args()
    model = open_model("rpn-quality-screen")
    found: dict[float, list[float]] = {o: [] for o in args.offsets}
    print("| image | " + " | ".join(f"offset {o:g}" for o in args.offsets) + " |")
    print("|---" * (len(args.offsets) + 1) + "|")
    for category in CATEGORIES:
        for path in sorted((args.data / category).glob("*.png"))[40:43]:
            image = load_image(path)
            data = codec.encode(image, model, residual=False)
            ends = [end for _, end in bitstream.parse(data).byte_ranges]
            below = codec.decode(data, 3, model).image
            residual = image.astype(np.int64) - below
            budget = 8 * (ends[3] - ends[2] - bitstream.CHUNK_OVERHEAD)
            cells = []
            for offset in args.offsets:
                value = float("nan")
                for step in residual_layers.STEPS:
                    m = residual_layers.largest(step)
                    q = np.clip(np.sign(residual) * np.floor(np.abs(residual) / step + offset),
                                -m, m).astype(np.int64)
                    if residual_layers.estimate_bits(q) <= budget:
                        value = psnr(image, residual_layers.apply(below, q, step))
                        break
                found[offset].append(value)
                cells.append(f"{value:.2f}")
            print(f"| {category}/{path.name} | " + " | ".join(cells) + " |", flush=True)
    print("| **mean** | " + " | ".join(f"{np.nanmean(v):.3f}" for v in found.values()) + " |")


if __name__ == "__main__":
    main()
