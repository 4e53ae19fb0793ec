"""The client-side viewer in ``rpncodec serve``: the site ``rpncodec web`` writes, served live
for the folder, so a browser decodes the files itself (docs/browser.md).

    GET /web/                          the files (index.html, from /web/files.json)
    GET /web/view.html?src=NAME.rpn    the progressive viewer, decoding in the browser
    GET /web/decode.html?src=...       the decode page (its report contract: docs/browser.md)
    GET /web/NAME.rpn                  the stored file, ranged (as /files/NAME.rpn)
    GET /web/app/..., /web/ort/...     the viewer's scripts, the decoder, onnxruntime-web
    GET /web/models/MODEL/FILE         the per-level model files of shipped model MODEL

Every response carries COOP/COEP (the page is cross-origin isolated, so the decoder may run
several threads). The decoder bundle is the checkout's ``web/`` (``make web``), found when the
server starts; without it these routes answer 404 saying what to run, and the rest of the
service works as before. A model's files are exported on its first request (a few seconds,
in a thread; :func:`rpncodec.website.model_folder`) and kept in the user cache.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import website
from ..errors import RpncodecError
from ..registry import REGISTRY
from . import names
from .responses import SECURITY, Refused, error

PREFIX = "/web"
HEADERS = {**SECURITY, **{k.lower(): v for k, v in website.ISOLATION_HEADERS.items()},
           "cross-origin-resource-policy": "same-origin", "cache-control": "no-cache"}
_FILE = re.compile(r"[A-Za-z0-9._-]{1,100}")


class WebRoutes:
    """The ``/web`` routes of one :class:`~.app.Service`."""

    def __init__(self, service, web: str | Path | None = None) -> None:
        self.service = service
        self.static = website.static_dir()
        try:
            self.bundle: website.Bundle | None = website.find_bundle(web)
            self.missing = ""
        except RpncodecError as exc:
            self.bundle, self.missing = None, str(exc)
        self._exports: dict[str, Path] = {}
        self._lock = threading.Lock()

    def routes(self) -> list[Route]:
        return [
            Route(PREFIX, lambda request: RedirectResponse(f"{PREFIX}/", 308)),
            Route(f"{PREFIX}/", self.page),
            Route(f"{PREFIX}/files.json", self.listing),
            Route(PREFIX + "/{page}.html", self.page),
            Route(PREFIX + "/{name}.rpn", self.rpn),
            Route(PREFIX + "/app/{file}", self.app_file),
            Route(PREFIX + "/ort/{file}", self.ort_file),
            Route(PREFIX + "/models/{model}/{file}", self.model_file),
        ]

    def _unavailable(self) -> Response | None:
        if self.bundle is None:
            return error(404, f"the in-browser viewer is unavailable: {self.missing}", HEADERS)
        return None

    def _send(self, path: Path, kind: str | None = None) -> Response:
        from ..website.preview import TYPES

        return FileResponse(path, media_type=kind or TYPES.get(path.suffix,
                                                               "application/octet-stream"),
                            headers=HEADERS)

    async def page(self, request: Request) -> Response:
        refused = self._unavailable()
        if refused:
            return refused
        page = request.path_params.get("page", "index")
        if f"{page}.html" not in website.STATIC:
            return error(404, f"no page {page}.html (pages: {', '.join(website.STATIC)})",
                         HEADERS)
        return self._send(self.static / f"{page}.html")

    async def listing(self, request: Request) -> Response:
        """What files.json holds in a written site, for the files served now."""
        listed = await to_thread.run_sync(names.listing, self.service.folder)
        files = []
        for name in listed:
            try:
                found = await self.service.lookup(name)
            except Refused:  # damaged header, above the pixel limit: not listed
                continue
            h = found.header
            files.append({"file": f"{name}.rpn", "model": h.model, "mode": h.mode,
                          "width": h.width, "height": h.height, "layers": h.layers,
                          "available": found.available, "bytes": found.size})
        return JSONResponse({"files": files}, headers=HEADERS)

    async def rpn(self, request: Request) -> Response:
        request.path_params["file"] = f"{request.path_params['name']}.rpn"
        response = await self.service.files(request)
        response.headers.update(HEADERS)
        response.headers["cache-control"] = self.service.cache_control
        return response

    async def app_file(self, request: Request) -> Response:
        refused = self._unavailable()
        if refused:
            return refused
        file = request.path_params["file"]
        if file == "rpncodec.mjs":
            return self._send(self.bundle.decoder)
        if file not in website.APP:
            return error(404, f"no file app/{file}", HEADERS)
        return self._send(self.static / file)

    async def ort_file(self, request: Request) -> Response:
        refused = self._unavailable()
        if refused:
            return refused
        file = request.path_params["file"]
        if file not in website.ORT_FILES:
            return error(404, f"no file ort/{file}", HEADERS)
        return self._send(self.bundle.ort / file)

    def _export(self, model: str) -> Path:
        with self._lock:  # one export per model, however many requests wait for it
            if model not in self._exports:
                self._exports[model] = website.model_folder(model, self.bundle)
            return self._exports[model]

    async def model_file(self, request: Request) -> Response:
        refused = self._unavailable()
        if refused:
            return refused
        model, file = request.path_params["model"], request.path_params["file"]
        if model not in REGISTRY:
            return error(404, f"no shipped model named {model[:80]}", HEADERS)
        if not _FILE.fullmatch(file) or file.startswith("."):
            return error(400, "invalid file name", HEADERS)
        try:
            folder = await to_thread.run_sync(self._export, model)
        except RpncodecError as exc:
            return error(503, str(exc), HEADERS)
        path = folder / file
        if not path.is_file():
            return error(404, f"no file {file} in the web export of {model}", HEADERS)
        return self._send(path)
