"""Serve a site written by ``rpncodec web`` locally, the way a production host should:

    python -m rpncodec.website.preview SITE [--port 8080] [--no-isolation]

``Range`` requests (one range per request, 206 / 416, as the viewer asks), the right content
types for ``.mjs`` and ``.wasm``, and the cross-origin-isolation headers (COOP/COEP) that let
the decoder run several threads; ``--no-isolation`` leaves them out (one thread). The standard
library only: ``python -m http.server`` ignores ``Range``, so the viewer would read every file
whole. A development server (one thread per connection); for production use any static host.
The tests and benchmarks use :class:`SiteHandler` (``tests/browser/web_session.py``).
"""

from __future__ import annotations

import argparse
import re
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from . import ISOLATION_HEADERS

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
         ".css": "text/css", ".json": "application/json", ".wasm": "application/wasm",
         ".onnx": "application/octet-stream", ".bin": "application/octet-stream",
         ".rpn": "application/octet-stream", ".png": "image/png"}
RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class SiteHandler(SimpleHTTPRequestHandler):
    """Static files of one folder with single ``Range`` requests and optional COOP/COEP.

    Subclasses set ``isolate`` and may count what they send (``sent``)."""

    isolate = True
    extensions_map: ClassVar[dict[str, str]] = {**SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def end_headers(self) -> None:
        if self.isolate:
            for name, value in ISOLATION_HEADERS.items():
                self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def count(self, path: str, start: int, size: int) -> None:
        """Called for every body sent (``size`` bytes of ``path`` from ``start``)."""

    def send_head(self):
        """SimpleHTTPRequestHandler's hook, answering a ``Range`` with 206 or 416."""
        self._remaining = None
        path = Path(self.translate_path(self.path))
        header = self.headers.get("Range")
        if not header or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        match = RANGE.fullmatch(header.strip())
        if not match or (not match[1] and not match[2]):
            self.send_error(400, "malformed Range")
            return None
        if match[1]:
            start = int(match[1])
            end = min(int(match[2]), size - 1) if match[2] else size - 1
        else:  # a suffix: the last N bytes
            start, end = max(0, size - int(match[2])), size - 1
        if start >= size or end < start:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        f = open(path, "rb")  # closed by the caller, after copyfile
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self._remaining = end - start + 1
        self._counted = (self.path, start)
        return f

    def copyfile(self, source, outputfile) -> None:
        remaining = getattr(self, "_remaining", None)
        if remaining is None:  # a whole file
            data = source.read()
            self.count(self.path, 0, len(data))
            outputfile.write(data)
            return
        data = source.read(remaining)
        self._remaining = None
        self.count(self.path, self._counted[1], len(data))
        outputfile.write(data)

    def log_message(self, format: str, *args) -> None:
        pass


def serve(site: Path, port: int, isolate: bool = True, host: str = "127.0.0.1") -> None:
    """Serve ``site`` until interrupted."""
    handler = type("Handler", (SiteHandler,), {"isolate": isolate})
    server = ThreadingHTTPServer((host, port),
                                 lambda *a: handler(*a, directory=str(site)))
    print(f"serving {site} on http://{host}:{server.server_address[1]}/ "
          f"({'cross-origin isolated: several threads' if isolate else 'one thread'})",
          file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("site", type=Path, help="a folder written by rpncodec web")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--no-isolation", action="store_true",
                        help="leave out COOP/COEP (the decoder then runs one thread)")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"preview: error: {args.site} is not a site written by rpncodec web",
              file=sys.stderr)
        return 1
    serve(args.site, args.port, not args.no_isolation, args.host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
