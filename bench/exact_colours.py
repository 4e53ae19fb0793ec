"""What exact colours, colour corrections and residual layers cost in time: the encoder's
extra work (a decode of every layer, the radius search, the corrections' choice, then another
decode of every layer and the residual layers' search) and the decoder's two passes,
corrections and residual strings, per image, against the same model without them.

    python bench/exact_colours.py                              # 2 test images per category
    python bench/exact_colours.py --model rpn-quality-cond --per-category 3 DIR

DIR (default ``.data/nonphoto/test``, from ``scripts/nonphoto/build.py``) holds one folder per
category. Per image: encode with the learned layers alone, then with exact colours and
corrections, then with residual layers too, and decode the top layer of each file (the best
of ``--repeats``), in this process on the onnx backend with one thread. Prints
one row per image and the medians; run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import timeit
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from rpncodec import bitstream, codec
from rpncodec.backend import open_model
from rpncodec.imageio import load_image

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", nargs="?", type=Path, default=ROOT / ".data" / "nonphoto" / "test")
    p.add_argument("--model", default="rpn-quality-screen")
    p.add_argument("--backend", default="onnx")
    p.add_argument("--per-category", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: no folder {args.folder} (build it: scripts/nonphoto/build.py)",
              file=sys.stderr)
        return 1
    model = open_model(args.model, args.backend)
    rows = []
    print("| image | pixels | colours | corrected layers | residual steps | encode s (learned "
          "/ + colours / + residual) | top-layer decode s (the same) |\n"
          "|---|---|---|---|---|---|---|")
    for category in sorted(d for d in args.folder.iterdir() if d.is_dir()):
        for path in sorted(category.glob("*.png"))[: args.per_category]:
            image = load_image(path)
            t0 = time.perf_counter()
            plain = codec.encode(image, model, exact=False, residual=False)
            t1 = time.perf_counter()
            coloured = codec.add_exact_colours(plain, image, model)
            t2 = time.perf_counter()
            data = codec.add_residual_layers(coloured, image, model)
            t3 = time.perf_counter()
            header = bitstream.parse(data).header
            colours = len(header.palette) // 3
            corrected = "".join(str(k) for k in range(1, header.layers + 1)
                                if header.is_corrected(k)) or "-"
            steps = ",".join(str(s) for s in header.steps if s) or "-"
            decodes = [min(timeit.repeat(lambda d=d: codec.decode(d, None, model), number=1,
                                         repeat=args.repeats)) for d in (plain, coloured, data)]
            row = (t1 - t0, t2 - t0, t3 - t0, *decodes)
            rows.append(row)
            print(f"| {category.name}/{path.name} | {image.shape[0] * image.shape[1]} | "
                  f"{colours} | {corrected} | {steps} | {' / '.join(f'{v:.2f}' for v in row[:3])}"
                  f" | {' / '.join(f'{v:.2f}' for v in row[3:])} |", flush=True)
    med = np.median(np.array(rows), 0)
    print(f"\nmedian over {len(rows)} images: encode {med[0]:.2f} / {med[1]:.2f} / {med[2]:.2f} "
          f"s, top-layer decode {med[3]:.2f} / {med[4]:.2f} / {med[5]:.2f} s (learned layers / "
          f"+ exact colours and corrections / + residual layers; {args.model}, {args.backend})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
