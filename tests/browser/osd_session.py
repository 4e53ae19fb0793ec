"""Drive IIIF viewers (tests/browser: OpenSeadragon, Mirador) in headless Chromium.

The page is served from a second local origin, so every IIIF request is cross-origin. Used by
tests/test_iiif_browser.py (OpenSeadragon and Mirador) and bench/iiif_replay.py (which records
the tile requests of an OpenSeadragon deep-zoom session to replay them).
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
from urllib.parse import parse_qs, urlencode

HERE = Path(__file__).resolve().parent
OSD = HERE / "node_modules" / "openseadragon" / "build" / "openseadragon" / "openseadragon.min.js"
MIRADOR = HERE / "node_modules" / "mirador" / "dist" / "mirador.min.js"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
PAGES = {"/": (HERE / "osd.html", "text/html"), "/mirador": (HERE / "mirador.html", "text/html"),
         "/openseadragon.min.js": (OSD, "text/javascript"),
         "/mirador.min.js": (MIRADOR, "text/javascript")}


def manifest(origin: str, service: str, width: int, height: int) -> dict:
    """A IIIF Presentation 3 manifest of one canvas painted by the image ``service``."""
    canvas = f"{origin}/canvas/1"
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": f"{origin}/manifest.json", "type": "Manifest", "label": {"en": ["rpncodec"]},
        "items": [{"id": canvas, "type": "Canvas", "width": width, "height": height,
                   "items": [{"id": f"{origin}/page/1", "type": "AnnotationPage", "items": [{
                       "id": f"{origin}/annotation/1", "type": "Annotation",
                       "motivation": "painting", "target": canvas,
                       "body": {"id": f"{service}/full/max/0/default.jpg", "type": "Image",
                                "format": "image/jpeg", "width": width, "height": height,
                                "service": [{"id": service, "type": "ImageService3",
                                             "profile": "level2"}]}}]}]}],
    }


class _Page(BaseHTTPRequestHandler):
    """The viewer's origin: the pages, the viewers' scripts, a manifest, and /report."""

    reports: list[dict]

    def _send(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.send_header("access-control-allow-origin", "*")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/manifest.json":
            q = parse_qs(query)
            origin = f"http://{self.headers['host']}"
            body = manifest(origin, q["service"][0], int(q["width"][0]), int(q["height"][0]))
            self._send(json.dumps(body).encode(), "application/json")
        elif path in PAGES:
            self._send(PAGES[path][0].read_bytes(), PAGES[path][1])
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.reports.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def open_page(chromium: str, page: str, query: dict, profile: Path,
              timeout_s: float = 180) -> dict:
    """Open ``page`` (``/`` OpenSeadragon, ``/mirador``) of a local origin with ``query`` in
    headless Chromium and return what it POSTs to /report. Raises RuntimeError when it reports
    an error or nothing within ``timeout_s``."""
    reports: list[dict] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Page", (_Page,), {"reports": reports}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}{page}?{urlencode(query)}"
    browser = subprocess.Popen([chromium, *FLAGS, "--window-size=800,600",
                                f"--user-data-dir={profile}", url],
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
        raise RuntimeError(f"{page} reported {reports[-1] if reports else 'nothing'}")
    return reports[-1]


def view(chromium: str, info_url: str, profile: Path, steps: list | None = None,
         timeout_s: float = 180) -> tuple[list[str], bytes]:
    """Open ``info_url`` in OpenSeadragon, take ``steps`` (see osd.html), and return the URLs
    of the tiles it loaded, in order, and its canvas as PNG bytes."""
    query = {"info": info_url, **({"steps": json.dumps(steps)} if steps else {})}
    report = open_page(chromium, "/", query, profile, timeout_s)
    return report["tiles"], base64.b64decode(report["canvas"].split(",", 1)[1])
