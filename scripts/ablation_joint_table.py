"""The equal-budget ablation tables (docs/results.md) from Kodak results.

Every variant was trained from scratch on the small preset with the same schedule, data and
seeds (``scripts/ablation_joint.sh``) and evaluated on Kodak with ``rpncodec eval`` into
``results/ablation/<prefix>-<variant>-s<seed>.json`` (prefix ``joint``: quality mode,
``joint-spatial``: spatial mode). Per variant (mean of its seeds): bytes and PSNR per layer;
and, each against (a) of the *same seed* and then averaged over the seeds both have, the
change of bytes and PSNR per layer and, in quality mode, the BD-rate of the variant's layered
curve (its four cumulative (bpp, PSNR) points) against (a)'s, by the same interpolation as
``rpncodec bdrate``. Negative BD-rate = fewer bits for the same quality. (Spatial layers are
different resolutions, so their points make no curve.)

    python scripts/ablation_joint_table.py [results/ablation] [joint | joint-spatial]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from rpncodec.models.config import QUALITY_LAMBDAS, SPATIAL_LAMBDAS
from rpncodec.utils.bdrate import compare_curves

VARIANTS = {
    "a": "(a) factorized residual at every level (the paper)",
    "b": "(b) conditional Gaussian, mean = resolution field, at levels above 1",
    "c": "(c) = (b) + scale hyperprior at level 1",
    "d": "(d) = (c) with a plain 3-conv predictor instead of context mining",
    "e": "(e) = (c) with mean 0 (no prediction used as the mean)",
}


def load(folder: Path, prefix: str, key: str) -> dict[str, dict]:
    """seed -> that run's Kodak results (bytes, bpp, PSNR per layer)."""
    out = {}
    for path in sorted(folder.glob(f"{prefix}-{key}-s*.json")):
        r = json.loads(path.read_text())["results"]
        out[path.stem.rsplit("-s", 1)[1]] = {m: r[m] for m in ("bytes", "bpp", "psnr-rgb")}
    return out


def mean(runs: list[dict], metric: str) -> list[float]:
    return np.mean([r[metric] for r in runs], axis=0).tolist()


def objective(run: dict, spatial: bool) -> float:
    """The training loss of a run's Kodak means (quality: cumulative bpp; spatial: own)."""
    bpp, nbytes = run["bpp"], run["bytes"]
    if spatial:  # layer k's bytes include the levels below: keep its own share
        bpp = [b * (1 - (nbytes[k - 1] / nbytes[k] if k else 0)) for k, b in enumerate(bpp)]
    lambdas = SPATIAL_LAMBDAS if spatial else QUALITY_LAMBDAS
    return sum(lam * b + 255.0**2 * 10 ** (-q / 10)
               for lam, b, q in zip(lambdas, bpp, run["psnr-rgb"], strict=True))


def against(run: dict, base: dict, spatial: bool) -> tuple:
    """Bytes change (%), PSNR change (dB) per layer, objective change (%), and in quality
    mode BD-rate (%) and BD-PSNR (dB)."""
    rate = [100 * (b / a - 1) for a, b in zip(base["bytes"], run["bytes"], strict=True)]
    dq = [b - a for a, b in zip(base["psnr-rgb"], run["psnr-rgb"], strict=True)]
    loss = 100 * (objective(run, spatial) / objective(base, spatial) - 1)
    if spatial:
        return rate, dq, loss, None, None
    bd = compare_curves(list(zip(run["bpp"], run["psnr-rgb"], strict=True)),
                        list(zip(base["bpp"], base["psnr-rgb"], strict=True)))
    return rate, dq, loss, bd["bd_rate"], bd["bd_quality"]


def main(folder: str = "results/ablation", prefix: str = "joint") -> int:
    root = Path(folder)
    results = {k: load(root, prefix, k) for k in VARIANTS}
    if not results["a"]:
        raise SystemExit(f"no results for (a) in {root}")
    spatial = "spatial" in prefix
    print("| variant | seeds | bytes per layer | PSNR per layer (dB) | bytes vs (a) | "
          "PSNR vs (a) | training objective vs (a) |"
          + ("" if spatial else " BD-rate / BD-PSNR vs (a), layered curve |"))
    print("|---|---|---|---|---|---|---|" + ("" if spatial else "---|"))
    for key, label in VARIANTS.items():
        runs = results[key]
        if not runs:
            continue
        cells = [label, ", ".join(runs), " / ".join(f"{b:.0f}" for b in mean(list(runs.values()),
                                                                            "bytes")),
                 " / ".join(f"{q:.2f}" for q in mean(list(runs.values()), "psnr-rgb"))]
        paired = [against(runs[seed], results["a"][seed], spatial) for seed in runs
                  if seed in results["a"]]
        if key == "a" or not paired:
            cells += ["-"] * (3 if spatial else 4)
        else:
            rate = np.mean([p[0] for p in paired], axis=0)
            dq = np.mean([p[1] for p in paired], axis=0)
            cells += [" / ".join(f"{v:+.1f}%" for v in rate),
                      " / ".join(f"{v:+.2f}" for v in dq),
                      f"{np.mean([p[2] for p in paired]):+.1f}%"]
            if not spatial:
                cells.append(f"{np.mean([p[3] for p in paired]):+.1f}% / "
                             f"{np.mean([p[4] for p in paired]):+.2f} dB")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
