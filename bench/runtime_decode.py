"""In-process decode time of the torch-free backend (``onnx``) per layer, for this checkout
against a baseline revision, in one run.

The baseline is ``git archive REV rpncodec`` unpacked into a temporary folder; each tree runs
in processes of its own (``PYTHONPATH`` set to it), alternating tree by tree for each repeat so
that a slow spell of the machine hits both. Per tree, model and layer:

- ``decode``: wall time of ``codec.decode`` of the layer's prefix, the best of ``--repeats``
  runs (after one warm-up) per image, averaged over images;
- ``networks``: CPU time (of the process, less disturbed by other processes than wall time)
  of the float64 networks that level's decoding runs: the resolution field
  (``RuntimeLevel.context``) and the entropy model's scales (``codec._shift_scale``) for
  the image's latent sizes, the best of 5 x ``--repeats`` runs per image;
- the decoded pixels and the encoded bytes of both trees are compared (sha256).

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

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KODAK = REPO.parent / "shared" / "data" / "kodak"
MODELS = ("rpn-quality-cond", "rpn-spatial-cond")


def measure(model: str, paths: list[str], repeats: int) -> dict:
    """One tree's timings (runs in the child process): per layer, the best time per image
    and the sha256 of the decoded pixels."""
    from rpncodec import codec
    from rpncodec.backend import open_model
    from rpncodec.imageio import load_image

    runtime = open_model(model, "onnx")
    out = {}
    for path in paths:
        image = load_image(path)
        data = codec.encode(image, runtime)
        h, w = (-(-s // runtime.pad_multiple) * runtime.pad_multiple for s in image.shape[:2])
        sizes = runtime.config.level_sizes(runtime.latent_size(h, w))
        rng = np.random.default_rng(0)
        for k in range(1, runtime.config.layers + 1):
            decoded = codec.decode(data, k, runtime).image  # warm-up: sessions, tables
            start = time.perf_counter()
            codec.decode(data, k, runtime)
            seconds = time.perf_counter() - start
            out[f"{Path(path).name}/{k}"] = {
                "seconds": seconds, "networks": _networks(runtime, k - 1, sizes, rng, repeats),
                "sha256": hashlib.sha256(decoded.tobytes()).hexdigest(),
                "bytes_sha256": hashlib.sha256(data).hexdigest()}
    return out


def _networks(runtime, k: int, sizes: list, rng, repeats: int) -> float:
    """Best CPU time of level ``k``'s float64 networks on random latents of its sizes."""
    level, size = runtime.level(k), tuple(sizes[k])
    width = runtime.config.widths[k]
    if k == 0:
        if not hasattr(level.codec, "h_s"):
            return 0.0
        z = np.round(rng.standard_normal((1, width, (size[0] + 3) // 4, (size[1] + 3) // 4)))
        run = lambda: level.codec._shift_scale(z, size)  # noqa: E731
    else:
        lower = rng.standard_normal((1, runtime.config.widths[k - 1], *sizes[k - 1])) * 3

        def run() -> object:
            prior = level.context(lower, size)
            if hasattr(level.codec, "head"):
                level.codec._shift_scale(lower, prior, size)
            return prior
    run()
    best = float("inf")
    for _ in range(5 * repeats):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def run_tree(tree: Path, model: str, paths: list[str], repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    code = (f"import sys, json; sys.path.insert(0, {str(tree)!r}); "
            f"sys.path.insert(1, {str(REPO / 'bench')!r}); import runtime_decode as r; "
            f"print(json.dumps(r.measure({model!r}, {paths!r}, {repeats})))")
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
                    for key, row in run_tree(tree, model, paths, 1).items():
                        slot = best.setdefault(label, {}).setdefault(model, {})
                        old = slot.setdefault(key, row)
                        old["seconds"] = min(old["seconds"], row["seconds"])
                        old["networks"] = min(old["networks"], row["networks"])
    rows = []
    for model in MODELS:
        layers = sorted({int(k.rsplit("/", 1)[1]) for k in best["checkout"][model]})
        for k in layers:
            keys = [key for key in best["checkout"][model] if key.endswith(f"/{k}")]
            mean = {(label, what): sum(best[label][model][key][what] for key in keys) / len(keys)
                    for label in trees for what in ("seconds", "networks")}
            same = all(best["baseline"][model][key]["sha256"]
                       == best["checkout"][model][key]["sha256"] for key in keys)
            same_bytes = all(best["baseline"][model][key]["bytes_sha256"]
                             == best["checkout"][model][key]["bytes_sha256"] for key in keys)
            rows.append({"model": model, "layer": k,
                         "decode_baseline_s": round(mean["baseline", "seconds"], 4),
                         "decode_checkout_s": round(mean["checkout", "seconds"], 4),
                         "networks_baseline_s": round(mean["baseline", "networks"], 4),
                         "networks_checkout_s": round(mean["checkout", "networks"], 4),
                         "same_pixels": same, "same_bytes": same_bytes})
    print(f"# onnx backend, in-process decode, mean over {len(paths)} image(s) of the best of "
          f"{args.repeats}; baseline {args.baseline}; {platform.processor() or platform.machine()}")
    print("| model | layer | decode, baseline (s) | decode, checkout (s) | its networks, "
          "baseline (CPU s) | its networks, checkout (CPU s) | same pixels | same bytes |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['layer']} | {r['decode_baseline_s']:.3f} | "
              f"{r['decode_checkout_s']:.3f} | {r['networks_baseline_s']:.4f} | "
              f"{r['networks_checkout_s']:.4f} | {'yes' if r['same_pixels'] else 'no'} | "
              f"{'yes' if r['same_bytes'] else 'no'} |")
    if args.json:
        args.json.write_text(json.dumps({"baseline": args.baseline, "images": len(paths),
                                         "repeats": args.repeats, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
