"""The non-photographic data set's builder: deterministic pixels, a manifest with a source and
licence per image, and a test part that is every 10th image of each category."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parents[1] / "scripts" / "nonphoto" / "build.py"
FONTS = Path("/usr/share/fonts/truetype")


def build(out: Path) -> dict:
    subprocess.run([sys.executable, str(BUILD), "--out", str(out), "--only", "flat", "slides",
                    "maps", "charts", "--scale", "0.05"], check=True, capture_output=True)
    return json.loads((out / "manifest.json").read_text())


@pytest.mark.skipif(not any(FONTS.rglob("*.ttf")) if FONTS.is_dir() else True,
                    reason="no TrueType fonts under /usr/share/fonts (Debian fonts-dejavu-core)")
def test_the_builder_is_deterministic_and_records_every_image(tmp_path) -> None:
    a, b = build(tmp_path / "a"), build(tmp_path / "b")
    assert [r["sha256"] for r in a["images"]] == [r["sha256"] for r in b["images"]]
    cats = {r["category"] for r in a["images"]}
    assert cats == {"flat", "slides", "maps", "charts"}
    for cat in cats:
        rows = sorted((r for r in a["images"] if r["category"] == cat), key=lambda r: r["file"])
        assert [r["split"] for r in rows].count("test") == -(-len(rows) // 10)
        for r in rows:
            assert r["source"] and r["license"]
            assert (tmp_path / "a" / r["file"]).is_file()
            assert r["file"].startswith(f"{r['split']}/{cat}/")
    assert a["versions"]["pypi:Pillow"]
