"""Open pages of a site written by ``rpncodec web`` in headless Chromium and collect what they
report (tests/test_web_browser.py, bench/web_decode.py).

The site is served by the preview server's handler (``rpncodec.website.preview``: ``Range``,
COOP/COEP unless ``isolate`` is False) plus ``POST /report``, which decode.html's ``report=``
parameter points at; the server also counts the body bytes it sends for each ``.rpn`` file, so
a test can compare the page's ``bytes_fetched`` with what really went over the wire.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from rpncodec.website.preview import SiteHandler

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--disable-extensions", "--mute-audio"]


class _Handler(SiteHandler):
    """The site, plus /report (JSON posted by decode.html) and a count of .rpn bytes sent."""

    reports: list[dict]
    sent: dict[str, int]
    delay_s: float | Callable[[], float] = 0.0  # before each .rpn response: a slow link
    log: list[tuple[str, int, int, float]] | None = None  # .rpn bodies: name, start, size, when

    def send_head(self):
        """SiteHandler's, after ``delay_s`` for an ``.rpn`` file."""
        delay = self.delay_s() if callable(self.delay_s) else self.delay_s
        if delay and self.path.split("?")[0].endswith(".rpn"):
            time.sleep(delay)
        return super().send_head()

    def count(self, path: str, start: int, size: int) -> None:
        name = path.split("?")[0].rsplit("/", 1)[-1]
        if name.endswith(".rpn"):
            self.sent[name] = self.sent.get(name, 0) + size
            self._body = (name, start, size)

    def copyfile(self, source, outputfile) -> None:
        """SiteHandler's, then the time the body was written, in ``log``."""
        self._body = None
        super().copyfile(source, outputfile)
        if self.log is not None and self._body:
            outputfile.flush()
            self.log.append((*self._body, time.time()))

    def _cors(self) -> None:  # a page of another origin (rpncodec serve) may report here
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "content-type")
        self.send_header("Access-Control-Allow-Methods", "POST")
        self.send_header("Cross-Origin-Resource-Policy", "cross-origin")

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self._cors()
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        if self.path.split("?")[0] == "/report":
            self.reports.append(json.loads(body))
            self.send_response(204)
        else:
            self.send_response(404)
        self._cors()
        self.end_headers()


@contextmanager
def site_server(site: Path, isolate: bool = True, delay_s: float | Callable[[], float] = 0.0,
                log: list | None = None):
    """Serve ``site`` (``delay_s`` before each answer for an ``.rpn`` file, or what that
    function returns then: a link made slow for some pages only); yields
    ``(origin, reports, sent)`` (lists/dicts filled as pages run). With ``log``, each
    ``.rpn`` body sent is appended to it as ``(name, start, size, time.time())``, once
    written."""
    reports: list[dict] = []
    sent: dict[str, int] = {}
    handler = type("Handler", (_Handler,), {"reports": reports, "sent": sent,
                                            "isolate": isolate, "delay_s": staticmethod(
                                                delay_s) if callable(delay_s) else delay_s,
                                            "log": log})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", reports, sent
    finally:
        server.shutdown()
        server.server_close()


def run_page(chromium: str, url: str, reports: list[dict], profile: Path,
             timeout_s: float = 120) -> dict:
    """Open ``url`` in headless Chromium until the page POSTs a report; return it. Raises
    RuntimeError when nothing comes within ``timeout_s`` or the browser exits first."""
    before = len(reports)
    browser = subprocess.Popen([chromium, *FLAGS, "--window-size=1000,800",
                                f"--user-data-dir={profile}", url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while len(reports) == before and browser.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait()
    if len(reports) == before:
        raise RuntimeError(f"{url} reported nothing within {timeout_s:.0f} s")
    return reports[-1]


def decode_url(origin: str, src: str, layers: int | None = None, threads: int | None = None,
               report: str = "/report", page: str = "decode.html") -> str:
    """The address of ``page`` (decode.html, view.html) for ``src`` (a name in the site),
    reporting to ``report`` (a path of the page's origin, or a URL)."""
    query = {"src": src}
    if layers is not None:
        query["layers"] = str(layers)
    if threads is not None:
        query["threads"] = str(threads)
    if report:
        query["report"] = report
    return f"{origin}/{page}?{urlencode(query)}"


def png_pixels(report: dict) -> np.ndarray:
    """The RGB pixels of a report's ``png`` data URL."""
    from PIL import Image

    data = base64.b64decode(report["png"].split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


class _Pipe:
    """Chromium's DevTools protocol over ``--remote-debugging-pipe`` (fds 3 and 4: JSON
    messages separated by NUL bytes), so no WebSocket client is needed."""

    def __init__(self, chromium: str, profile: Path, width: int, height: int) -> None:
        to_browser_r, self._out = os.pipe()
        self._in, from_browser_w = os.pipe()

        def fds() -> None:  # in the child: its fd 3 reads our commands, fd 4 writes answers
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.browser = subprocess.Popen(
            [chromium, *FLAGS, "--remote-debugging-pipe", f"--window-size={width},{height}",
             f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            pass_fds=(3, 4, to_browser_r, from_browser_w), preexec_fn=fds)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._id = 0

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]

    def close(self) -> None:
        os.killpg(self.browser.pid, signal.SIGKILL)
        self.browser.wait()
        os.close(self._in)
        os.close(self._out)


def screenshot(chromium: str, url: str, png: Path, profile: Path, width: int = 900,
               height: int = 900, timeout_s: float = 120) -> str:
    """Open ``url``, wait until the page sets ``body[data-done]``, save the window as ``png``;
    returns the page's title (headless ``--screenshot`` fires at the load event, before a
    worker has decoded anything)."""
    pipe = _Pipe(chromium, profile, width, height)
    try:
        target = pipe.call("Target.createTarget", {"url": url})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target,
                                                      "flatten": True})["sessionId"]
        pipe.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                         "deviceScaleFactor": 1,
                                                         "mobile": False}, session)
        deadline = time.monotonic() + timeout_s
        while True:
            state = pipe.call("Runtime.evaluate", {"expression": "document.body && "
                                                   "document.body.dataset.done || ''",
                                                   "returnByValue": True}, session)
            if state["result"].get("value") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        time.sleep(0.3)  # the last paint
        shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session)
        png.write_bytes(base64.b64decode(shot["data"]))
        return pipe.call("Runtime.evaluate", {"expression": "document.title",
                                              "returnByValue": True}, session)["result"]["value"]
    finally:
        pipe.close()
