"""Drive OpenSeadragon (tests/browser/osd.html) in headless Chromium against a IIIF server.

The page is served from a second local origin, so every IIIF request is cross-origin. Used by
tests/test_iiif_browser.py and bench/iiif_replay.py (which records the tile requests of a
deep-zoom session to replay them).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
OSD = HERE / "node_modules" / "openseadragon" / "build" / "openseadragon" / "openseadragon.min.js"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


class _Page(BaseHTTPRequestHandler):
    """The viewer's origin: the page, OpenSeadragon, and /report for its results."""

    reports: list[dict]

    def do_GET(self) -> None:
        files = {"/": (HERE / "osd.html", "text/html"),
                 "/openseadragon.min.js": (OSD, "text/javascript")}
        path = self.path.split("?")[0]
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


def view(chromium: str, info_url: str, profile: Path, steps: list | None = None,
         timeout_s: float = 180) -> tuple[list[str], bytes]:
    """Open ``info_url`` in OpenSeadragon, take ``steps`` (see osd.html), and return the URLs
    of the tiles it loaded, in order, and its canvas as PNG bytes. Raises RuntimeError when
    the page reports an error or nothing within ``timeout_s``."""
    from urllib.parse import urlencode

    reports: list[dict] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Page", (_Page,), {"reports": reports}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    query = {"info": info_url, **({"steps": json.dumps(steps)} if steps else {})}
    page = f"http://127.0.0.1:{server.server_address[1]}/?{urlencode(query)}"
    browser = subprocess.Popen([chromium, *FLAGS, "--window-size=800,600",
                                f"--user-data-dir={profile}", page],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while not reports and browser.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait()
        server.shutdown()
    if not reports or "error" in reports[-1]:
        raise RuntimeError(f"OpenSeadragon reported {reports[-1] if reports else 'nothing'}")
    canvas = base64.b64decode(reports[-1]["canvas"].split(",", 1)[1])
    return reports[-1]["tiles"], canvas
