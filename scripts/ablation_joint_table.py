"""The equal-budget ablation table (README "Beyond the paper") from Kodak results.

Every variant was trained from scratch on the small preset with the same level-by-level
schedule, data and seeds (``scripts/ablation_joint.sh``) and evaluated on Kodak with
``rpncodec eval`` into ``results/ablation/joint-<variant>-s<seed>.json``. Per variant (mean
of its seeds): bytes and PSNR per layer, their change against (a), and the BD-rate of the
variant's layered curve (its four cumulative (bpp, PSNR) points) against (a)'s, by the same
interpolation as ``rpncodec bdrate``. Negative BD-rate = fewer bits for the same quality.

    python scripts/ablation_joint_table.py [results/ablation]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from rpncodec.utils.bdrate import compare_curves, monotone

VARIANTS = {
    "a": "(a) factorized residual at every level (the paper)",
    "b": "(b) conditional Gaussian, mean = resolution field, at levels 2-4",
    "c": "(c) = (b) + scale hyperprior at level 1",
    "d": "(d) = (c) with a plain 3-conv predictor instead of context mining",
    "e": "(e) = (c) with mean 0 (no prediction used as the mean)",
}


def load(folder: Path, key: str) -> dict | None:
    runs = [json.loads(p.read_text())["results"]
            for p in sorted(folder.glob(f"joint-{key}-s*.json"))]
    if not runs:
        return None
    return {"seeds": len(runs),
            **{m: np.mean([r[m] for r in runs], axis=0).tolist()
               for m in ("bytes", "bpp", "psnr-rgb")}}


def main(folder: str = "results/ablation") -> int:
    root = Path(folder)
    results = {k: load(root, k) for k in VARIANTS}
    base = results["a"]
    if base is None:
        raise SystemExit(f"no results for (a) in {root}")
    anchor = monotone(list(zip(base["bpp"], base["psnr-rgb"], strict=True)))
    print("| variant | seeds | bytes per layer | PSNR per layer (dB) | bytes vs (a) | "
          "PSNR vs (a) | BD-rate / BD-PSNR vs (a), layered curve |")
    print("|---|---|---|---|---|---|---|")
    for key, label in VARIANTS.items():
        r = results[key]
        if r is None:
            continue
        rate = " / ".join(f"{100 * (b / a - 1):+.1f}%"
                          for a, b in zip(base["bytes"], r["bytes"], strict=True))
        dq = " / ".join(f"{b - a:+.2f}" for a, b in zip(base["psnr-rgb"], r["psnr-rgb"],
                                                        strict=True))
        curve = monotone(list(zip(r["bpp"], r["psnr-rgb"], strict=True)))
        bd = compare_curves(curve, anchor) if key != "a" else {}
        bd_text = ("-" if bd.get("bd_rate") is None else
                   f"{bd['bd_rate']:+.1f}% / {bd['bd_quality']:+.2f} dB")
        print(f"| {label} | {r['seeds']} | {' / '.join(f'{b:.0f}' for b in r['bytes'])} | "
              f"{' / '.join(f'{q:.2f}' for q in r['psnr-rgb'])} | "
              f"{'-' if key == 'a' else rate} | {'-' if key == 'a' else dq} | {bd_text} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
