"""The HTML report: plots, BD tables and crops from a results folder; Chromium renders it."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from rpncodec.cli import main
from rpncodec.utils.report import detail_window, find_chromium
from rpncodec.utils.testing import smooth_image


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, tiny_model_path):
    root = tmp_path_factory.mktemp("report")
    images, results = root / "images", root / "results"
    images.mkdir()
    results.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(64, 96, seed=i)).save(images / f"im{i}.png")
    assert main(["eval", str(images), "--model", tiny_model_path, "--per-image",
                 "--json", str(results / "tiny-q.json")]) == 0
    assert main(["anchors", str(images), "--codec", "jpeg2000", "--bpp", "0.25", "1", "4",
                 "--json", str(results / "jpeg2000.json")]) == 0
    (results / "notes.json").write_text('{"something": "else"}')  # not a results file: ignored
    out = root / "report"
    assert main(["report", str(results), "--out", str(out), "--images", str(images),
                 "--model", tiny_model_path, "--crops", "1", "--crop", "32"]) == 0
    return out


def test_report_page_has_plots_bd_table_and_crops_that_exist(report_dir) -> None:
    page = (report_dir / "index.html").read_text()
    assert "<h2>BD-rates</h2>" in page and "tiny-q against each anchor" in page
    assert re.search(r"<td class=\"l\">jpeg2000</td><td class=\"l\">all</td>", page)
    sources = re.findall(r'src="([^"]+)"', page)
    assert "rd-quality.png" in sources
    crops = [s for s in sources if s.startswith("crops/")]
    layers = 4  # tiny quality model: original + (model, JPEG 2000) per layer
    assert len(crops) == 1 + 2 * layers
    for src in sources:
        assert (report_dir / src).is_file(), src
    assert Image.open(report_dir / crops[1]).size == (32, 32)  # full-size crop, no scaling
    assert "notes.json" not in page


def test_report_of_a_folder_without_results_fails_with_one_line(tmp_path, capsys) -> None:
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rpncodec: error: no results JSONs"), err


def test_detail_window_finds_the_textured_square() -> None:
    image = np.full((128, 128, 3), 100, np.uint8)
    image[64:96, 32:64] = smooth_image(32, 32, seed=3)
    assert detail_window(image, 32) == (64, 32)


@pytest.mark.skipif(find_chromium() is None, reason="no chromium on this machine")
def test_report_renders_in_headless_chromium(report_dir, tiny_model_path) -> None:
    png = report_dir / "shot.png"
    root = report_dir.parent
    assert main(["report", str(root / "results"), "--out", str(report_dir), "--images",
                 str(root / "images"), "--model", tiny_model_path, "--crops", "1", "--crop", "32",
                 "--screenshot", str(png)]) == 0
    shot = np.asarray(Image.open(png).convert("L"))
    assert shot.shape == (3000, 1400)
    rows_with_ink = (shot < 200).any(axis=1).mean()
    assert rows_with_ink > 0.1  # text, tables and the plot, not a blank page
