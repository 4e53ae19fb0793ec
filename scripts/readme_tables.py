"""Print the README's Kodak tables (markdown) from a results folder.

    .venv/bin/python scripts/readme_tables.py [results/kodak] > tables.md

1. every single-layer sweep: PSNR-RGB at fixed rates (pchip on log-rate between measured
   points, "-" outside them), its BD-rate against JPEG 2000, MS-SSIM at 0.5 bpp;
2. every learned result against every anchor of its mode and every learned single-layer
   sweep: per-layer BD-rate (BD-PSNR), as ``rpncodec bdrate`` computes it (files sharing a
   ``name`` are joined into one codec's curves);
3. each shipped spatial model per layer beside its matched JPEG 2000 and the simulcasts;
4. the multi-resolution JPEG 2000 anchor, per total rate and layer.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rpncodec.utils.anchors import SWEEPS
from rpncodec.utils.bdrate import (
    _interp,
    bdrate,
    codec_specs,
    comparable,
    compare_curves,
    load_results,
    monotone,
)
from rpncodec.utils.report import tests_and_anchors

RATES = (0.125, 0.25, 0.5, 0.75, 1.0)
SIZES = {1: "1/4", 2: "1/2", 3: "full"}  # spatial layer -> resolution


def sweeps_table(folder: Path) -> str:
    names = [n for n in SWEEPS if (folder / f"{n}.json").exists()]
    reference = folder / "jpeg2000.json"
    lines = ["| anchor | " + " | ".join(f"{r} bpp" for r in RATES)
             + " | BD-rate vs jpeg2000 | MS-SSIM at 0.5 bpp |",
             "|---|" + "---|" * (len(RATES) + 2)]
    for name in names:
        path = str(folder / f"{name}.json")
        points = monotone(load_results(path).all_points())
        logr, quality = [math.log(b) for b, _ in points], [q for _, q in points]
        cells = [_interp(logr, quality, math.log(r)) for r in RATES]
        bd = "-"
        if reference.exists():
            row = compare_curves(points, monotone(load_results(str(reference)).all_points()))
            bd = f"{row['bd_rate']:+.1f}%" if row["bd_rate"] is not None else "-"
        ms = monotone(load_results(path, "ms-ssim").all_points())
        m = _interp([math.log(b) for b, _ in ms], [v for _, v in ms], math.log(0.5))
        lines.append(f"| {name} | " + " | ".join("-" if c is None else f"{c:.2f}" for c in cells)
                     + f" | {bd} | {'-' if m is None else f'{1 - 10 ** (-m / 10):.4f}'} |")
    return "\n".join(lines)


def bd_tables(folder: Path) -> str:
    """One table per learned result: its per-layer BD against every anchor of a compatible
    mode and every learned single-layer sweep. Files that share a ``name`` are one codec and
    join into one set of curves (e.g. two simulcast rate points, or the multi-resolution grid
    with its matched run)."""
    specs = codec_specs(sorted(folder.glob("*.json")))
    loaded = {name: load_results(spec) for name, spec in specs.items()}
    tests, anchors = tests_and_anchors(specs)
    out = []
    for test in tests:
        results = loaded[test]
        keys = ([str(k) for k in sorted(results.layers)] if results.layered else ["curve"]) \
            + (["all"] if results.mode == "quality" else [])
        heads = {"all": "layers as one curve", "curve": "BD over the common range"}
        lines = [f"| {test} vs | " + " | ".join(heads.get(k, f"layer {k}") for k in keys) + " |",
            "|---|" + "---|" * len(keys)]
        for anchor in anchors:
            other = loaded[anchor]
            if anchor == test or not comparable(results, other):
                continue
            rows = {r["layer"]: r for r in bdrate(results, other)}
            cells = []
            for k in keys:
                r = rows.get(k)
                if r is None or (r["bd_rate"] is None and r["bd_quality"] is None):
                    cells.append("-")
                elif r["bd_rate"] is None:
                    how = " (same bytes)" if r["how"] == "same rate" else ""
                    cells.append(f"{r['bd_quality']:+.2f} dB{how}")
                else:
                    cells.append(f"{r['bd_rate']:+.1f}% ({r['bd_quality']:+.2f} dB)")
            lines.append(f"| {anchor} | " + " | ".join(cells) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def resolutions_table(folder: Path) -> str:
    path = folder / "jpeg2000-resolutions.json"
    if not path.exists():
        return ""
    r = json.loads(path.read_text())["results"]
    lines = ["| total bpp (full res) | layer (size) | bytes | bpp (own pixels) | PSNR vs pyramid "
             "| PSNR vs own 9/7 reference | MS-SSIM |", "|---|---|---|---|---|---|---|"]
    for s, k, n, b, p, po, m in zip(r["setting"], r["layer"], r["bytes"], r["bpp"],
                                    r["psnr-rgb"], r["psnr-own-rgb"], r["ms-ssim-rgb"],
                                    strict=True):
        lines.append(f"| {s:g} | {k} ({SIZES[k]}) | {n:.0f} | {b:.3f} | {p:.2f} | {po:.2f} | "
                     f"{'-' if m is None else f'{m:.4f}'} |")
    return "\n".join(lines)


def _members(path: Path) -> str:
    """The single-layer models of a simulcast, from its description (e.g. "l500/l500/l500")."""
    described = json.loads(path.read_text())["description"]
    return described.split("files of ")[1].split(" up to")[0].replace(
        "rpn-single-cpu-", "").replace(", ", "/")


def spatial_table(folder: Path) -> str:
    """Each shipped spatial model per layer, next to its matched multi-resolution JPEG 2000
    (same total bytes per image) and the simulcasts (independent files, sizes added)."""
    out = []
    for path in sorted(folder.glob("rpn-spatial-*.json")):
        model = json.loads(path.read_text())
        if model.get("mode") != "spatial":  # spatial-quality has its own table
            continue
        matched = folder / f"jpeg2000-resolutions-matched-{model['name']}.json"
        columns = [("JPEG 2000 at the same total bytes", matched)] + [
            (f"simulcast {_members(p)}", p)
            for p in sorted(folder.glob("simulcast-resolutions*.json"))]
        columns = [(title, json.loads(p.read_text())["results"]) for title, p in columns
                   if p.exists()]
        r = model["results"]
        lines = [f"| {model['name']} layer (size) | bytes | bpp (own pixels) | PSNR | MS-SSIM | "
                 + " | ".join(f"{t}: bytes / PSNR" for t, _ in columns) + " |",
                 "|---|---|---|---|---|" + "---|" * len(columns)]
        for i, k in enumerate(r["layer"]):
            m = r["ms-ssim-rgb"][i]
            cells = [f"{c['bytes'][i]:.0f} / {c['psnr-rgb'][i]:.2f}" for _, c in columns]
            lines.append(f"| {k} ({SIZES[k]}) | {r['bytes'][i]:.0f} | "
                         f"{r['bpp'][i]:.4f} | {r['psnr-rgb'][i]:.2f} | "
                         f"{'-' if m is None else f'{m:.4f}'} | " + " | ".join(cells) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "results/kodak")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print("\n\n".join(t for t in (sweeps_table(folder), bd_tables(folder),
                                      spatial_table(folder), resolutions_table(folder)) if t))


if __name__ == "__main__":
    main()
