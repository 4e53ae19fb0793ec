"""Per-category tables: a quality model against layered JPEG 2000, WebP and AVIF at the same
bytes, per layer, from the results files of scripts/category_results.sh (and, for
photographs, results/kodak and results/heldout).

    python scripts/category_table.py [MODEL ...]     # default: rpn-quality-cond

For each image and layer, JPEG 2000's PSNR is that of one layered codestream cut at the same
bytes; WebP's and AVIF's are interpolated (linear in log rate) in the image's own quality sweep
at the model's bytes, and an image whose rate lies outside the sweep is left out of that mean
(the count is printed). Gaps are model minus anchor, in dB of PSNR-RGB; every PSNR counts up
to ``rpncodec.metrics.PSNR_CAP`` (60 dB: a lossless layer is infinite).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from rpncodec.auto import bd_psnr
from rpncodec.metrics import capped

ROOT = Path(__file__).resolve().parents[1] / "results"
AUTO = "auto"  # encode --model auto: per image, the better of these (rpncodec.auto)
AUTO_MODELS = ("rpn-quality-cond", "rpn-quality-screen")
PHOTO_SETS = {"photos (Kodak)": ROOT / "kodak", "photos (held-out)": ROOT / "heldout"}


def load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def swept_psnr(rows: list[dict], bpp: float) -> float | None:
    """PSNR of a quality sweep at ``bpp``, linear in log rate; None outside the sweep."""
    pts = sorted((r["bpp"], r["psnr"]) for r in rows)
    rates = np.log([p[0] for p in pts])
    if not rates[0] <= np.log(bpp) <= rates[-1]:
        return None
    return float(np.interp(np.log(bpp), rates, [capped(p[1]) for p in pts]))


def points(rows: list[dict]) -> list[tuple[float, float]]:
    return [(r["bpp"], r["psnr"]) for r in rows]


def per_image(folder: Path, model: str) -> tuple[dict, dict, dict] | None:
    """Per image: the model's rows per layer, the matched JPEG 2000 rows, and the model that
    coded it. ``auto`` takes, per image, the candidate of AUTO_MODELS that
    :func:`rpncodec.auto.bd_psnr` prefers (what ``encode --model auto`` keeps: the same
    file bytes and PSNR as the eval measured)."""
    if model == AUTO:
        parts = [per_image(folder, m) for m in AUTO_MODELS]
        if any(p is None for p in parts):
            return None
        ours, j2k, picks = {}, {}, {}
        for image in parts[0][0]:
            best = 0
            for i in range(1, len(parts)):
                if bd_psnr(points(parts[i][0][image]), points(parts[best][0][image])) > 0:
                    best = i
            ours[image], j2k[image] = parts[best][0][image], parts[best][1][image]
            picks[image] = AUTO_MODELS[best]
        return ours, j2k, picks
    found = load(folder / f"{model}.json")
    anchor = (load(folder / f"jpeg2000-layered-{model}.json")
              or (load(folder / "jpeg2000-layered.json") if model == AUTO_MODELS[0] else None))
    if found is None or anchor is None:
        return None
    return found["per_image"], anchor["per_image"], dict.fromkeys(found["per_image"], model)


def gaps(folder: Path, model: str) -> dict | None:
    """Mean bpp, PSNR and per-anchor gaps per layer for one category folder."""
    found = per_image(folder, model)
    if found is None:
        return None
    ours, j2k, picks = found
    layers = len(next(iter(ours.values())))

    def mean(key: str, rows: dict) -> list[float]:
        return [float(np.mean([capped(r[k][key]) if key == "psnr" else r[k][key]
                               for r in rows.values()])) for k in range(layers)]

    out = {"images": len(ours), "bpp": mean("bpp", ours), "psnr": mean("psnr", ours),
           "jpeg2000": [p - q for p, q in zip(mean("psnr", ours), mean("psnr", j2k),
                                               strict=True)],
           "picks": picks}
    for name in ("webp", "avif"):
        sweep = load(folder / f"{name}.json")
        if sweep is None:
            continue
        per_layer = []
        for k in range(layers):
            diffs = [capped(row[k]["psnr"]) - s
                     for image, row in ours.items()
                     if (s := swept_psnr(sweep["per_image"][image], row[k]["bpp"])) is not None]
            per_layer.append((float(np.mean(diffs)) if diffs else None, len(diffs)))
        out[name] = per_layer
    return out


def categories() -> list[Path]:
    """The category folders of results/categories (none before the first run)."""
    folder = ROOT / "categories"
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def table(model: str) -> str:
    folders = {p.name: p for p in categories()}
    folders.update(PHOTO_SETS)
    title = (f"### {model}: per image the better of {' and '.join(AUTO_MODELS)}"
             if model == AUTO else f"### {model}")
    lines = [title, "",
             "| category | images | layer | bpp | PSNR | vs JPEG 2000 | vs WebP | vs AVIF |",
             "|---|---|---|---|---|---|---|---|"]
    picked: dict[str, str] = {}
    means: dict[int, list[float]] = {}
    for cat, folder in folders.items():
        g = gaps(folder, model)
        if g is None:
            continue
        if model == AUTO:
            n = sum(m != AUTO_MODELS[0] for m in g["picks"].values())
            picked[cat] = f"{n} of {g['images']}"
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
    if picked:
        lines += ["", f"Images coded by {AUTO_MODELS[1]}: "
                  + ", ".join(f"{cat} {n}" for cat, n in picked.items()) + "."]
    return "\n".join(lines)


def models() -> list[str]:
    """The models with results in every category, the default first."""
    found = None
    for folder in categories():
        names = {f.stem for f in folder.glob("*.json")
                 if not f.stem.startswith(("jpeg2000", "webp", "avif"))}
        found = names if found is None else found & names
    found = sorted(found or [], key=lambda n: (n != AUTO_MODELS[0], n))
    return [*found, AUTO] if set(AUTO_MODELS) <= set(found) else found


def tables() -> str:
    """Every model's table (what the documentation shows)."""
    names = models()
    if not names:
        return "No results yet: run `scripts/category_results.sh`."
    return "\n\n".join(table(name) for name in names)


if __name__ == "__main__":
    print("\n\n".join(table(name) for name in sys.argv[1:]) if sys.argv[1:] else tables())
