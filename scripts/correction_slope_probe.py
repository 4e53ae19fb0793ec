"""Which rate-distortion slope should colour corrections beat? Measured on the train part of the
non-photographic data set (never the test part) against layered JPEG 2000 at the same bytes.

    .venv/bin/python scripts/correction_slope_probe.py [--slopes 6.02 9 12 1000]

For each image (3 per category of text, UI, charts and line art, the 8th-10th of each train
folder) the shipped ``rpn-quality-screen`` codes the learned layers once; then, per slope S
(``colour_corrections.DB_PER_DOUBLING``, dB per doubling of a layer's bytes; 1000 turns the
corrections off), the encoder adds exact colours and corrections, and one layered JPEG 2000
codestream is cut at each layer's bytes. Prints per image the gap (model minus JPEG 2000, dB
of PSNR-RGB) at layers 1-4 and the mean per slope, as a Markdown page.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rpncodec import bitstream, codec, colour_corrections
from rpncodec.backend import open_model
from rpncodec.imageio import load_image
from rpncodec.metrics import psnr
from rpncodec.utils.anchors import jpeg2000_layered

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ("text", "ui", "charts", "lineart")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--slopes", type=float, nargs="+", default=[6.02, 9.0, 12.0, 1000.0])
    p.add_argument("--data", type=Path, default=ROOT / ".data" / "nonphoto" / "train")
    args = p.parse_args()
    model = open_model("rpn-quality-screen")
    gaps: dict[float, list[list[float]]] = {s: [] for s in args.slopes}
    print("| image | " + " | ".join(f"S = {s:g}" for s in args.slopes) + " |")
    print("|---" * (len(args.slopes) + 1) + "|")
    for category in CATEGORIES:
        for path in sorted((args.data / category).glob("*.png"))[7:10]:
            image = load_image(path)
            plain = codec.encode(image, model, exact=False)
            pixels = image.shape[0] * image.shape[1]
            cells = []
            for s in args.slopes:
                colour_corrections.DB_PER_DOUBLING = s
                data = codec.add_exact_colours(plain, image, model)
                ends = [end for _, end in bitstream.parse(data).byte_ranges]
                anchor = jpeg2000_layered(image, [8 * b / pixels for b in ends])
                gap = [psnr(image, codec.decode(data, k, model).image) - anchor[k - 1]["psnr"]
                       for k in range(1, len(ends) + 1)]
                gaps[s].append(gap)
                cells.append(f"v{data[4]} " + " / ".join(f"{g:+.2f}" for g in gap))
            print(f"| {category}/{path.name} | " + " | ".join(cells) + " |", flush=True)
    print("| **mean** | " + " | ".join(
        " / ".join(f"{g:+.3f}" for g in np.mean(gaps[s], 0)) for s in args.slopes) + " |")


if __name__ == "__main__":
    main()
