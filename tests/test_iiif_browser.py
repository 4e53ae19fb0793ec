"""OpenSeadragon (from npm, locked in tests/browser/) opens a multi-tile ``.rpn`` image through
``rpncodec serve``'s IIIF info.json in headless Chromium, from another origin.

The page (tests/browser/osd.html) is served by a second local HTTP server, so the info.json and
the tiles are cross-origin requests that need CORS. It zooms in once the home view has fully
loaded and reports every tile it loaded; the test checks the tiles came at more than one scale
factor, counts them, and checks the viewer's canvas (sent back by the page) shows the image.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from test_iiif_serve import encode_zoom, serving

from rpncodec.utils.report import find_chromium

BROWSER = Path(__file__).resolve().parent / "browser"
OSD = BROWSER / "node_modules" / "openseadragon" / "build" / "openseadragon" / \
    "openseadragon.min.js"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
TILE = re.compile(r"/iiif/3/zoom/(full|\d+,\d+,(\d+),\d+)/(\d+),(\d*)/0/default\.jpg$")

pytestmark = [
    pytest.mark.skipif(find_chromium() is None, reason="no chromium on this machine"),
    pytest.mark.skipif(not OSD.is_file(), reason="OpenSeadragon is not installed: run "
                       "scripts/iiif_setup.sh (npm ci --prefix tests/browser)"),
]


class _Page(BaseHTTPRequestHandler):
    """The viewer's origin: the page, OpenSeadragon, and /report for its results."""

    reports: list[dict]

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        files = {"/": (BROWSER / "osd.html", "text/html"),
                 "/openseadragon.min.js": (OSD, "text/javascript")}
        if path not in files:
            self.send_error(404)
            return
        body = files[path][0].read_bytes()
        self.send_response(200)
        self.send_header("content-type", files[path][1])
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.reports.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def iiif_server(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("osd")
    encode_zoom(folder)
    with serving(folder, "--workers", "2") as url:
        yield url


def test_openseadragon_renders_the_image_at_several_scale_factors(iiif_server, tmp_path):
    reports: list[dict] = []
    handler = type("Page", (_Page,), {"reports": reports})
    page_server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=page_server.serve_forever, daemon=True).start()
    page = f"http://127.0.0.1:{page_server.server_address[1]}/?info={iiif_server}" \
           "/iiif/3/zoom/info.json"
    browser = subprocess.Popen([find_chromium(), *FLAGS, "--window-size=800,600",
                                f"--user-data-dir={tmp_path / 'profile'}", page],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not reports and browser.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait()
        page_server.shutdown()
    assert reports and "error" not in reports[-1], reports
    tiles = reports[-1]["tiles"]
    factors = []
    for url in tiles:
        assert url.startswith(iiif_server), url  # the other origin: CORS let it through
        match = TILE.search(url)
        assert match, url
        region_w = 3072 if match[1] == "full" else int(match[2])
        factors.append(round(region_w / int(match[3])))
    assert len(set(factors)) >= 2 and set(factors) <= {1, 2, 4}, (factors, tiles)
    assert factors.count(1) >= 2, tiles  # the zoomed view needs several full-resolution tiles
    canvas = base64.b64decode(reports[-1]["canvas"].split(",", 1)[1])
    (tmp_path / "osd.png").write_bytes(canvas)
    seen = np.asarray(Image.open(io.BytesIO(canvas)).convert("RGB")).astype(int)
    assert seen.shape[0] >= 600 and seen.shape[1] >= 800  # device pixels
    blank = (seen.sum(-1) == 0).mean()  # an undrawn canvas is transparent black
    assert blank < 0.05 and seen.std() > 10, (blank, seen.std())
