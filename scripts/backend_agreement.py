"""How closely the two backends agree, per shipped model and layer, on real images.

For each image (default: the bundled sample; ``--folder`` for Kodak) and each shipped model:
encode with each backend, decode every layer with both, and report for the cross decodes
(torch-written file decoded by onnx, and the reverse) the largest pixel difference from the
writer's own decode and the share of differing values; also whether both encoders wrote the
same bytes. Files always decode across backends (the index check would stop them otherwise).

    python scripts/backend_agreement.py                          # the bundled sample
    python scripts/backend_agreement.py --folder ../shared/data/kodak --json results/backends.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from rpncodec import codec
from rpncodec.backend import open_model
from rpncodec.cli import SAMPLE
from rpncodec.imageio import list_images, load_image
from rpncodec.registry import REGISTRY


def agreement(name: str, images: list[np.ndarray]) -> list[dict]:
    models = {b: open_model(name, b) for b in ("torch", "onnx")}
    rows = []
    for k in range(1, models["torch"].config.layers + 1):
        worst, differing, total, same_bytes = 0, 0, 0, True
        for image in images:
            files = {b: codec.encode(image, m) for b, m in models.items()}
            same_bytes &= files["torch"] == files["onnx"]
            for writer, reader in (("torch", "onnx"), ("onnx", "torch")):
                own = codec.decode(files[writer], k, models[writer]).image.astype(np.int16)
                other = codec.decode(files[writer], k, models[reader]).image.astype(np.int16)
                diff = np.abs(own - other)
                worst = max(worst, int(diff.max()))
                differing += int((diff > 0).sum())
                total += diff.size
        rows.append({"model": name, "layer": k, "max_diff": worst,
                     "share_differing": differing / total, "same_bytes": same_bytes})
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", type=Path)
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--model", action="append", help="only these models (default: every shipped "
                   "one); with --json, their rows replace theirs in an existing file")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    paths = list_images(args.folder)[: args.images] if args.folder else [SAMPLE]
    images = [load_image(path) for path in paths]
    names = args.model or list(REGISTRY)
    rows = [row for name in names for row in agreement(name, images)]
    if args.model and args.json and args.json.exists():
        kept = [r for r in json.loads(args.json.read_text()) if r["model"] not in names]
        rows = sorted(kept + rows, key=lambda r: (list(REGISTRY).index(r["model"]), r["layer"]))
    print(f"# {len(images)} image(s): {', '.join(p.name for p in paths)}")
    print("| model | layer | max pixel difference | share of values differing | same bytes |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['layer']} | {r['max_diff']} | {r['share_differing']:.5%} | "
              f"{'yes' if r['same_bytes'] else 'no'} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
