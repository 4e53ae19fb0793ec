"""The entropy-model ablation table of docs/results.md from Kodak results.

Each variant's heads were trained for the same 800 steps on the same frozen transforms of
``rpn-quality-cpu`` (``scripts/ablation.sh``), two seeds each; its exported model was evaluated on
Kodak with ``rpncodec eval`` into ``results/ablation/heads-<variant>-s<seed>.json``. Variants
that keep the decoded latents (b, c, e) have exactly the base model's PSNR, so the rate change
at each layer *is* the BD-rate against (a); a variant that moves them (f) shows both changes.

    python scripts/ablation_table.py [results/ablation]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

VARIANTS = {
    "a": "(a) factorized residual at every level (the paper; `rpn-quality-cpu`)",
    "b": "(b) factorized level 1, conditional Gaussian with mean = resolution field at 2-4",
    "c": "(c) = (b) + scale hyperprior at level 1",
    "e": "(e) = (c) with mean 0 at levels 2-4 (no prediction: the field is not used as mean)",
    "f": "(f) = (c) with the heads also shifting the means (mean-scale)",
}


def load(path: Path) -> dict:
    r = json.loads(path.read_text())["results"]
    return {"bytes": r["bytes"], "psnr": r["psnr-rgb"]}


def main(folder: str = "results/ablation") -> int:
    root = Path(folder)
    base = load(Path("results/kodak/rpn-quality-cpu.json"))
    print("| variant | seed | bytes per layer (Kodak mean) | rate vs (a) per layer | "
          "PSNR vs (a) per layer |")
    print("|---|---|---|---|---|")
    print(f"| {VARIANTS['a']} | - | {' / '.join(f'{b:.0f}' for b in base['bytes'])} | - | - |")
    for key in "bcef":
        for path in sorted(root.glob(f"heads-{key}-s*.json")):
            r = load(path)
            rate = " / ".join(f"{100 * (b / a - 1):+.1f}%"
                              for a, b in zip(base["bytes"], r["bytes"], strict=True))
            dq = " / ".join(f"{b - a:+.2f}" for a, b in zip(base["psnr"], r["psnr"], strict=True))
            seed = path.stem.rsplit("-s", 1)[1]
            print(f"| {VARIANTS[key]} | {seed} | {' / '.join(f'{b:.0f}' for b in r['bytes'])} "
                  f"| {rate} | {dq} dB |")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
