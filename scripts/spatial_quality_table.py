"""Print the spatial-quality tables (markdown) from the results folders.

    .venv/bin/python scripts/spatial_quality_table.py [results] [model]

For Kodak (``results/kodak``) and the held-out photos (``results/heldout``), from the JSONs
that ``scripts/kodak_results.sh`` and ``scripts/heldout_results.sh`` write:

1. per layer of the spatial-quality model (default ``rpn-spatial-quality``): its bytes, bpp
   (over the layer's own pixels) and PSNR-RGB; ``rpn-spatial-cond``'s layer of the same
   resolution (layers 1-3); ``rpn-quality-cond``'s PSNR read at the same bpp on its curve
   (full-size layers; pchip on log-rate, "-" outside its layers' range); and the one
   JPEG 2000 codestream with the same layers (``anchors --codec jpeg2000-spatial-quality``);
2. the BD-rate of the model's full-size layers, as one curve, against ``rpn-quality-cond``'s
   four layers (negative: fewer bytes for the same PSNR);
3. storage: the mean bytes of one spatial-quality file against the two files a server needs
   without it (``rpn-spatial-cond`` for the sizes, ``rpn-quality-cond`` for the qualities).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rpncodec.bitstream import default_shifts
from rpncodec.utils.bdrate import _interp, compare_curves, monotone

SETS = (("Kodak (24 images)", "kodak"), ("held-out BSDS500 photos (10 images)", "heldout"))
SIZE = {0: "full", 1: "1/2", 2: "1/4"}


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text())["results"] if path.exists() else None


def _points(r: dict, layers: range | list[int]) -> list[tuple[float, float]]:
    return [(r["bpp"][k - 1], r["psnr-rgb"][k - 1]) for k in layers]


def _on_curve(curve: list[tuple[float, float]], bpp: float) -> str:
    """PSNR of a curve at ``bpp`` (pchip on log-rate), "-" outside its range."""
    points = monotone(curve)
    value = _interp([math.log(p[0]) for p in points], [p[1] for p in points], math.log(bpp))
    return "-" if value is None else f"{value:.2f}"


def layer_table(folder: Path, model: str) -> list[str]:
    sq = _load(folder / f"{model}.json")
    if sq is None:
        return [f"(no {folder.name}/{model}.json yet)"]
    spatial = _load(folder / "rpn-spatial-cond.json")
    quality = _load(folder / "rpn-quality-cond.json")
    j2k = _load(folder / f"jpeg2000-spatial-quality-{model}.json")
    shifts = default_shifts("spatial-quality", len(sq["layer"]))
    quality_curve = _points(quality, range(1, 5)) if quality else []
    rows = ["| layer | resolution | bytes | bpp | PSNR-RGB | rpn-spatial-cond: bytes / PSNR | "
            "rpn-quality-cond PSNR at the same bpp | one JPEG 2000 codestream: bytes / PSNR |",
            "|---|---|---|---|---|---|---|---|"]
    for i, k in enumerate(sq["layer"]):
        own = (f"{spatial['bytes'][i]:.0f} / {spatial['psnr-rgb'][i]:.2f}"
               if spatial and i < len(spatial["layer"]) else "-")
        at = _on_curve(quality_curve, sq["bpp"][i]) if quality_curve and not shifts[i] else "-"
        anchor = (f"{j2k['bytes'][i]:.0f} / {j2k['psnr-rgb'][i]:.2f}" if j2k else "-")
        rows.append(f"| {k} | {SIZE[shifts[i]]} | {sq['bytes'][i]:.0f} | {sq['bpp'][i]:.4f} | "
                    f"{sq['psnr-rgb'][i]:.2f} | {own} | {at} | {anchor} |")
    return rows


def bd_row(folder: Path, label: str, model: str) -> str | None:
    sq, quality = _load(folder / f"{model}.json"), _load(folder / "rpn-quality-cond.json")
    if sq is None or quality is None:
        return None
    shifts = default_shifts("spatial-quality", len(sq["layer"]))
    full = [k for k, s in zip(sq["layer"], shifts, strict=True) if s == 0]
    row = compare_curves(_points(sq, full), _points(quality, range(1, 5)))
    rate = "-" if row["bd_rate"] is None else f"{row['bd_rate']:+.1f}%"
    psnr = "-" if row["bd_quality"] is None else f"{row['bd_quality']:+.2f} dB"
    return f"| {label} | layers {full[0]}-{full[-1]} | {rate} | {psnr} | {row['how']} |"


def storage_row(folder: Path, label: str, model: str) -> str | None:
    results = [_load(folder / f"{n}.json") for n in (model, "rpn-spatial-cond",
                                                      "rpn-quality-cond")]
    if any(r is None for r in results):
        return None
    one, spatial, quality = (r["bytes"][-1] for r in results)
    two = spatial + quality
    return (f"| {label} | {one:.0f} | {spatial:.0f} + {quality:.0f} = {two:.0f} | "
            f"{one / two - 1:+.1%} |")


def tables(root: Path = Path("results"), model: str = "rpn-spatial-quality") -> str:
    out = []
    for label, name in SETS:
        out += [f"**{label}**", "", *layer_table(root / name, model), ""]
    bd = [r for label, name in SETS if (r := bd_row(root / name, label, model))]
    out += ["BD-rate of the full-size layers against `rpn-quality-cond` (PSNR-RGB):", "",
            "| set | curve | BD-rate | BD-PSNR | how |", "|---|---|---|---|---|", *bd, ""]
    storage = [r for label, name in SETS if (r := storage_row(root / name, label, model))]
    out += ["Storage, mean bytes per image: one spatial-quality file against a "
            "`rpn-spatial-cond` file and a `rpn-quality-cond` file:", "",
            "| set | one file | two files | difference |", "|---|---|---|---|", *storage]
    return "\n".join(out)


if __name__ == "__main__":
    print(tables(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results"),
                 sys.argv[2] if len(sys.argv) > 2 else "rpn-spatial-quality"))
