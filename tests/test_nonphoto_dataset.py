"""The non-photographic data set's builder: deterministic pixels, a manifest with a source and
licence per image, and a test part that is every 10th image of each category."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parents[1] / "scripts" / "nonphoto" / "build.py"
CATEGORIES = ["flat", "slides", "maps", "charts"]


def missing() -> list[str]:
    if shutil.which("dpkg-query") is None:
        return ["dpkg-query (a Debian system)"]
    sys.path.insert(0, str(BUILD.parent))
    try:
        import build as builder
    finally:
        sys.path.remove(str(BUILD.parent))
    return builder.missing_packages(CATEGORIES)


def build(out: Path) -> dict:
    subprocess.run([sys.executable, str(BUILD), "--out", str(out), "--only", *CATEGORIES,
                    "--scale", "0.05"], check=True, capture_output=True)
    return json.loads((out / "manifest.json").read_text())


@pytest.mark.skipif(bool(missing()), reason=f"the data set needs {', '.join(missing())}")
def test_the_builder_is_deterministic_and_records_every_image(tmp_path) -> None:
    a, b = build(tmp_path / "a"), build(tmp_path / "b")
    assert [r["sha256"] for r in a["images"]] == [r["sha256"] for r in b["images"]]
    cats = {r["category"] for r in a["images"]}
    assert cats == set(CATEGORIES)
    for cat in cats:
        rows = sorted((r for r in a["images"] if r["category"] == cat), key=lambda r: r["file"])
        assert [r["split"] for r in rows].count("test") == -(-len(rows) // 10)
        for r in rows:
            assert r["source"] and r["license"]
            assert (tmp_path / "a" / r["file"]).is_file()
            assert r["file"].startswith(f"{r['split']}/{cat}/")
    assert a["versions"]["pypi:Pillow"]
