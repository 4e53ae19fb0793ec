"""The layered JPEG 2000 anchor: real k-layer bytes, rising quality, JSON like eval's."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest
from PIL import Image

from rpncodec.anchors import j2k_decode, j2k_encode, jpeg2000_layered
from rpncodec.cli import main
from rpncodec.testing import smooth_image


def test_layered_jpeg2000_hits_its_rates_and_improves_with_each_layer() -> None:
    image = smooth_image(96, 128)
    rows = jpeg2000_layered(image, [0.5, 1.0, 2.0, 4.0])
    bpp = [r["bpp"] for r in rows]
    assert bpp == pytest.approx([0.5, 1.0, 2.0, 4.0], rel=0.25)
    assert all(a < b for a, b in pairwise(r["psnr"] for r in rows))


def test_cut_codestream_equals_the_codestream_coded_with_fewer_layers() -> None:
    image = smooth_image(64, 64, seed=3)
    full = j2k_encode(image, [0.5, 2.0])
    assert np.array_equal(j2k_decode(full, 1), j2k_decode(j2k_encode(image, [0.5])))
    assert not np.array_equal(j2k_decode(full, 1), j2k_decode(full, 2))


def test_anchors_command_matches_rates_of_an_eval_json(tmp_path, capsys) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(smooth_image(64, 80)).save(folder / "a.png")
    match = tmp_path / "rpn.json"
    match.write_text(json.dumps({"results": {"bpp": [0.5, 1.0, 1.5, 2.0]},
                                 "per_image": {"a.png": [{"bpp": b} for b in (0.4, 0.8, 1.2, 3)]}}))
    out = tmp_path / "j2k.json"
    assert main(["anchors", str(folder), "--codec", "jpeg2000-layered", "--match", str(match),
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["name"] == "jpeg2000-layered" and len(report["results"]["bpp"]) == 4
    assert report["results"]["bpp"][3] == pytest.approx(3, rel=0.25)  # the per-image rate
    assert main(["anchors", str(folder), "--codec", "jpeg", "--bpp", "1"]) == 1
    assert "unknown codec" in capsys.readouterr().err
