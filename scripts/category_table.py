"""Per-category tables: a quality model against layered JPEG 2000, WebP and AVIF at the same
bytes, per layer, from the results files of scripts/category_results.sh (and, for
photographs, results/kodak and results/heldout).

    python scripts/category_table.py [MODEL ...]     # default: rpn-quality-cond

For each image and layer, JPEG 2000's PSNR is that of one layered codestream cut at the same
bytes; WebP's and AVIF's are interpolated (linear in log rate) in the image's own quality sweep
at the model's bytes, and an image whose rate lies outside the sweep is left out of that mean
(the count is printed). Gaps are model minus anchor, in dB of PSNR-RGB.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1] / "results"
PHOTO_SETS = {"photos (Kodak)": ROOT / "kodak", "photos (held-out)": ROOT / "heldout"}


def load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def swept_psnr(rows: list[dict], bpp: float) -> float | None:
    """PSNR of a quality sweep at ``bpp``, linear in log rate; None outside the sweep."""
    pts = sorted((r["bpp"], r["psnr"]) for r in rows)
    rates = np.log([p[0] for p in pts])
    if not rates[0] <= np.log(bpp) <= rates[-1]:
        return None
    return float(np.interp(np.log(bpp), rates, [p[1] for p in pts]))


def gaps(folder: Path, model: str) -> dict | None:
    """Mean bpp, PSNR and per-anchor gaps per layer for one category folder."""
    ours = load(folder / f"{model}.json")
    if ours is None:
        return None
    j2k = load(folder / f"jpeg2000-layered-{model}.json") or load(folder / "jpeg2000-layered.json")
    out = {"images": len(ours["per_image"]), "bpp": ours["results"]["bpp"],
           "psnr": ours["results"]["psnr-rgb"],
           "jpeg2000": [p - q for p, q in zip(ours["results"]["psnr-rgb"],
                                               j2k["results"]["psnr-rgb"], strict=True)]}
    for name in ("webp", "avif"):
        sweep = load(folder / f"{name}.json")
        if sweep is None:
            continue
        per_layer = []
        for k in range(len(out["bpp"])):
            diffs = [row[k]["psnr"] - s
                     for image, row in ours["per_image"].items()
                     if (s := swept_psnr(sweep["per_image"][image], row[k]["bpp"])) is not None]
            per_layer.append((float(np.mean(diffs)) if diffs else None, len(diffs)))
        out[name] = per_layer
    return out


def table(model: str) -> str:
    folders = {p.name: p for p in sorted((ROOT / "categories").iterdir()) if p.is_dir()}
    folders.update(PHOTO_SETS)
    lines = [f"### {model}", "",
             "| category | images | layer | bpp | PSNR | vs JPEG 2000 | vs WebP | vs AVIF |",
             "|---|---|---|---|---|---|---|---|"]
    means: dict[int, list[float]] = {}
    for cat, folder in folders.items():
        g = gaps(folder, model)
        if g is None:
            continue
        for k, (bpp, psnr, j) in enumerate(zip(g["bpp"], g["psnr"], g["jpeg2000"],
                                               strict=True)):
            cells = []
            for name in ("webp", "avif"):
                v, n = g[name][k] if name in g else (None, 0)
                cells.append("-" if v is None else
                             f"{v:+.2f}" + ("" if n == g["images"] else f" ({n})"))
            lines.append(f"| {cat if k == 0 else ''} | {g['images'] if k == 0 else ''} | "
                         f"{k + 1} | {bpp:.3f} | {psnr:.2f} | {j:+.2f} | {' | '.join(cells)} |")
            if not cat.startswith("photos") and cat in ("text", "ui", "charts", "lineart"):
                means.setdefault(k, []).append(j)
    if means:
        lines += ["", "Mean gap to JPEG 2000 over text, UI, charts and line art, per layer: "
                  + " / ".join(f"{np.mean(v):+.2f}" for _, v in sorted(means.items())) + " dB"]
    return "\n".join(lines)


def models() -> list[str]:
    """The models with results in every category, the default first."""
    found = None
    for folder in (p for p in (ROOT / "categories").iterdir() if p.is_dir()):
        names = {f.stem for f in folder.glob("*.json")
                 if not f.stem.startswith(("jpeg2000", "webp", "avif"))}
        found = names if found is None else found & names
    return sorted(found or [], key=lambda n: (n != "rpn-quality-cond", n))


def tables() -> str:
    """Every model's table (what the documentation shows)."""
    return "\n\n".join(table(name) for name in models())


if __name__ == "__main__":
    print("\n\n".join(table(name) for name in sys.argv[1:]) if sys.argv[1:] else tables())
