"""OpenSeadragon (from npm, locked in tests/browser/) opens a multi-tile ``.rpn`` image through
``rpncodec serve``'s IIIF info.json in headless Chromium, from another origin.

The page (tests/browser/osd.html) is served by a second local HTTP server, so the info.json and
the tiles are cross-origin requests that need CORS. It zooms in once the home view has fully
loaded and reports every tile it loaded; the test checks the tiles came at more than one scale
factor, counts them, and checks the viewer's canvas (sent back by the page) shows the image.
Mirador (npm too) opens a manifest whose canvas this server paints, and fetches its tiles.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from test_iiif_serve import encode_zoom
from test_serve import serving

from rpncodec.utils.report import find_chromium

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from osd_session import MIRADOR, OSD, open_page, view

TILE = re.compile(r"/iiif/3/zoom/(full|\d+,\d+,(\d+),\d+)/(\d+),(\d*)/0/default\.jpg$")

pytestmark = [
    pytest.mark.skipif(find_chromium() is None, reason="no chromium on this machine"),
    pytest.mark.skipif(not OSD.is_file(), reason="OpenSeadragon is not installed: run "
                       "scripts/iiif_setup.sh (npm ci --prefix tests/browser)"),
]


@pytest.fixture(scope="module")
def iiif_server(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("osd")
    encode_zoom(folder)
    with serving(folder, "--workers", "2") as url:
        yield url


def test_openseadragon_renders_the_image_at_several_scale_factors(iiif_server, tmp_path):
    tiles, canvas = view(find_chromium(), f"{iiif_server}/iiif/3/zoom/info.json",
                         tmp_path / "profile")
    factors = []
    for url in tiles:
        assert url.startswith(iiif_server), url  # the other origin: CORS let it through
        match = TILE.search(url)
        assert match, url
        region_w = 3072 if match[1] == "full" else int(match[2])
        factors.append(round(region_w / int(match[3])))
    assert len(set(factors)) >= 2 and set(factors) <= {1, 2, 4}, (factors, tiles)
    assert factors.count(1) >= 2, tiles  # the zoomed view needs several full-resolution tiles
    (tmp_path / "osd.png").write_bytes(canvas)
    seen = np.asarray(Image.open(io.BytesIO(canvas)).convert("RGB")).astype(int)
    assert seen.shape[0] >= 600 and seen.shape[1] >= 800  # device pixels
    blank = (seen.sum(-1) == 0).mean()  # an undrawn canvas is transparent black
    assert blank < 0.05 and seen.std() > 10, (blank, seen.std())


@pytest.mark.skipif(not MIRADOR.is_file(), reason="Mirador is not installed: run "
                    "scripts/iiif_setup.sh (npm ci --prefix tests/browser)")
def test_mirador_opens_a_manifest_whose_image_is_served_here(iiif_server, tmp_path):
    """Mirador (npm) opens a IIIF Presentation manifest, served by the page's origin, whose
    canvas is painted by this server's image service: it fetches info.json and tiles."""
    service = f"{iiif_server}/iiif/3/zoom"
    report = open_page(find_chromium(), "/mirador", {"service": service, "width": 3072,
                                                     "height": 2048}, tmp_path / "profile")
    fetched = report["resources"]
    assert f"{service}/info.json" in fetched, fetched
    tiles = [u for u in fetched if TILE.search(u)]
    assert tiles and all(u.startswith(service) for u in tiles), fetched
