"""In-process decode time of the torch-free backend (``onnx``) per layer, for this checkout
against a baseline revision, in one run.

The baseline is ``git archive REV rpncodec`` unpacked into a temporary folder; each tree runs
in processes of its own (``PYTHONPATH`` set to it), alternating tree by tree for each repeat so
that a slow spell of the machine hits both. Per tree, model and layer: ``codec.decode`` of the
layer's prefix, the best of ``--repeats`` runs (after one warm-up) per image, averaged over
images; the decoded pixels of both trees are compared too (sha256 of every layer's image).

    python bench/runtime_decode.py --baseline HEAD~3                   # Kodak, 4 images
    python bench/runtime_decode.py --baseline REV --images 2 --json results/speed/x.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the command line (rpncodec.console)

import argparse
import hashlib
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KODAK = REPO.parent / "shared" / "data" / "kodak"
MODELS = ("rpn-quality-cond", "rpn-spatial-cond")


def measure(model: str, paths: list[str]) -> dict:
    """One tree's timings (runs in the child process): per layer, the best time per image
    and the sha256 of the decoded pixels."""
    from rpncodec import codec
    from rpncodec.backend import open_model
    from rpncodec.imageio import load_image

    runtime = open_model(model, "onnx")
    out = {}
    for path in paths:
        data = codec.encode(load_image(path), runtime)
        for k in range(1, runtime.config.layers + 1):
            image = codec.decode(data, k, runtime).image  # warm-up: sessions, tables
            start = time.perf_counter()
            codec.decode(data, k, runtime)
            out[f"{Path(path).name}/{k}"] = {
                "seconds": time.perf_counter() - start,
                "sha256": hashlib.sha256(image.tobytes()).hexdigest(),
                "bytes_sha256": hashlib.sha256(data).hexdigest()}
    return out


def run_tree(tree: Path, model: str, paths: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    code = (f"import sys, json; sys.path.insert(0, {str(tree)!r}); "
            f"sys.path.insert(1, {str(REPO / 'bench')!r}); import runtime_decode as r; "
            f"print(json.dumps(r.measure({model!r}, {paths!r})))")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", required=True, help="git revision to compare against")
    p.add_argument("--folder", type=Path, default=KODAK)
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    from rpncodec.imageio import list_images

    paths = [str(x) for x in list_images(args.folder)[: args.images]]
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", args.baseline, "rpncodec"], cwd=REPO,
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        trees = {"baseline": Path(tmp), "checkout": REPO}
        best: dict = {}
        for _ in range(args.repeats):
            for model in MODELS:
                for label, tree in trees.items():
                    for key, row in run_tree(tree, model, paths).items():
                        slot = best.setdefault(label, {}).setdefault(model, {})
                        if key not in slot or row["seconds"] < slot[key]["seconds"]:
                            slot[key] = row
    rows = []
    for model in MODELS:
        layers = sorted({int(k.rsplit("/", 1)[1]) for k in best["checkout"][model]})
        for k in layers:
            keys = [key for key in best["checkout"][model] if key.endswith(f"/{k}")]
            mean = {label: sum(best[label][model][key]["seconds"] for key in keys) / len(keys)
                    for label in trees}
            same = all(best["baseline"][model][key]["sha256"]
                       == best["checkout"][model][key]["sha256"] for key in keys)
            same_bytes = all(best["baseline"][model][key]["bytes_sha256"]
                             == best["checkout"][model][key]["bytes_sha256"] for key in keys)
            rows.append({"model": model, "layer": k, "baseline_s": round(mean["baseline"], 4),
                         "checkout_s": round(mean["checkout"], 4), "same_pixels": same,
                         "same_bytes": same_bytes})
    print(f"# onnx backend, in-process decode, mean over {len(paths)} image(s) of the best of "
          f"{args.repeats}; baseline {args.baseline}; {platform.processor() or platform.machine()}")
    print("| model | layer | baseline (s) | checkout (s) | same pixels | same bytes |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['layer']} | {r['baseline_s']:.3f} | {r['checkout_s']:.3f} | "
              f"{'yes' if r['same_pixels'] else 'no'} | {'yes' if r['same_bytes'] else 'no'} |")
    if args.json:
        args.json.write_text(json.dumps({"baseline": args.baseline, "images": len(paths),
                                         "repeats": args.repeats, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
