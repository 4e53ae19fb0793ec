"""Build the non-photographic data set: text and code, UI pages, charts, line art, flat colour
grids, slides, maps and scanned-looking pages, from what Debian's and PyPI's packages provide.

    python scripts/nonphoto/build.py --out .data/nonphoto      # ~10 minutes on 2 cores

Writes OUT/{train,test}/CATEGORY/NAME.png and OUT/manifest.json (per image: category, split,
size, sha256, source, licence; plus the versions of the packages that drew them). Every 10th
image of each category is in the test part: evaluate on it, never train or tune on it. The
same package versions give the same pixels; other versions (fonts, Chromium, matplotlib) give
a data set of the same make-up, which is why the manifest records them.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import charts
import graphics
import lineart
import text
import ui
from common import DEBIAN_PACKAGES, Sample

# images per category; every TEST_EVERY-th is a test image (120 text -> 12 test, ...)
COUNTS = {"text": 120, "ui": 80, "charts": 100, "lineart": 120, "flat": 60, "slides": 40,
          "maps": 40, "scans": 40}
TEST_EVERY = 10


def samples(category: str, count: int) -> Iterator[Sample]:
    if category == "text":
        return text.generate(count)
    if category == "ui":
        return ui.generate(count)
    if category == "charts":
        return charts.generate(count)
    if category == "lineart":
        return lineart.generate(count)
    return graphics.generate(category, count)


def versions() -> dict[str, str]:
    found = {f"debian:{k}": v for k, v in versions_of(list(DEBIAN_PACKAGES)).items()}
    for pkg in ("Pillow", "matplotlib", "Pygments", "numpy"):
        found[f"pypi:{pkg}"] = importlib.metadata.version(pkg)
    found["python"] = sys.version.split()[0]
    return found


def write_png(image, path: Path) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
    return hashlib.sha256(buf.getvalue()).hexdigest()


def missing_packages(categories: list[str]) -> list[str]:
    """The Debian packages these categories need that are not installed."""
    need = {"fonts-dejavu-core", "fonts-liberation2", "fonts-firacode", "fonts-noto-mono"}
    if "lineart" in categories:
        need |= {"openclipart-svg", "librsvg2-bin"}
    if "ui" in categories:
        need.add("chromium")
    return sorted(p for p in need if versions_of([p])[p] == "not installed")


def versions_of(packages: list[str]) -> dict[str, str]:
    found = {}
    for pkg in packages:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                             text=True)
        found[pkg] = out.stdout if out.returncode == 0 and out.stdout else "not installed"
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(".data/nonphoto"))
    ap.add_argument("--only", nargs="*", choices=list(COUNTS), help="categories to (re)build")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every count (tests)")
    args = ap.parse_args()
    manifest_path = args.out / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"images": []}
    cats = args.only or list(COUNTS)
    missing = missing_packages(cats)
    if missing:
        sys.exit(f"build.py: install the Debian packages first: apt-get install "
                 f"{' '.join(missing)}")
    rows = [r for r in old["images"] if r["category"] not in cats]
    for cat in cats:
        count = max(TEST_EVERY, round(COUNTS[cat] * args.scale))
        for i, s in enumerate(samples(cat, count)):
            split = "test" if i % TEST_EVERY == 0 else "train"
            path = args.out / split / cat / f"{s.name}.png"
            sha = write_png(s.image, path)
            rows.append({"file": str(path.relative_to(args.out)), "category": cat,
                         "split": split, "width": s.image.width, "height": s.image.height,
                         "sha256": sha, "source": s.source, "license": s.license})
        print(f"{cat}: {count} images", file=sys.stderr)
    manifest = {"description": __doc__.split("\n\n")[0], "test_every": TEST_EVERY,
                "versions": versions(), "images": sorted(rows, key=lambda r: r["file"])}
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, manifest_path)


if __name__ == "__main__":
    main()
