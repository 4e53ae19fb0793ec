"""The HTTP routes of ``rpncodec serve`` (Starlette) and how to run them (uvicorn).

    GET /                        the files, with links to their viewers
    GET /files/NAME.rpn          the stored file: Range (206, multi-range, 416), ETag, 304
    GET /images/NAME             a decoded layer: ?layers=K, or ?width=W for spatial files
                                 (the smallest layer at least W wide), ?format=png|webp
    GET /images/NAME/info        JSON: mode, model, size, layers, byte ranges per layer
    GET /view/NAME               the progressive viewer (decoded here, layer by layer)
    GET /web/view.html?src=NAME.rpn   the same file decoded in the browser (:mod:`.web_routes`)
    GET /iiif/3/NAME/...         IIIF Image API 3.0, level 2 (:mod:`.iiif_routes`)

Every error is JSON ``{"error": "..."}`` with a 4xx status (503 when the service is saturated
or a decode overruns its time budget); a request can only ever reach ``DIR/NAME.rpn``. A
client that does not send a whole request within ``request_timeout_s`` is disconnected
(:mod:`.protocol`), and an idle kept-alive connection after ``keep_alive_s``.
"""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from anyio import to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .. import bitstream, limits
from ..api import layers_for_width
from ..errors import RpncodecError
from . import names
from .catalog import Catalog, FileInfo, etag_of
from .config import ServeConfig
from .iiif_routes import IIIFRoutes
from .pool import Busy, DecodePool, RenderError
from .protocol import timed_protocol
from .render import FORMATS
from .responses import SECURITY, Refused, error, etag_matches, not_modified
from .viewer import SCRIPT, page
from .web_routes import WebRoutes

_VIEWER_CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; "
               "style-src 'unsafe-inline'")


def _not_modified(etag: str, cache_control: str) -> Response:
    return not_modified({"etag": etag, "cache-control": cache_control})


def _select_message(info: FileInfo, layers: int) -> str | None:
    """Why ``layers`` layers of this file cannot be served (the codec's own wording)."""
    c = bitstream.Container(info.header, [b""] * info.available, info.available, info.damaged,
                            info.truncated, [(li.start, li.end) for li in info.layers],
                            info.damage)
    try:
        bitstream.select(c, layers)
    except RpncodecError as exc:
        return str(exc).replace("--layers ", "layers=")
    return None


class Service:
    """The routes of one served folder and what they share (catalog, decoding pool)."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.folder = config.folder.resolve()
        self.catalog = Catalog()
        self.cache_control = f"public, max-age={config.max_age_s}"
        self.pool: DecodePool | None = None  # started by the app's lifespan

    def lookup_sync(self, name: str) -> FileInfo:
        try:
            path = names.resolve(self.folder, name)
            found = self.catalog.info(name, path)
        except names.BadName as exc:
            raise Refused(exc.status, str(exc)) from None
        except RpncodecError as exc:
            raise Refused(422, f"{name}: {exc}") from None
        except OSError:
            raise Refused(404, f"no file named {name}") from None
        limit = limits.pixel_limit()  # the codec's decompression-bomb refusal, from the header
        pixels = found.header.width * found.header.height
        if limit and pixels > 2 * limit:
            raise Refused(422, f"{name}: declares {found.header.width}x{found.header.height} = "
                          f"{pixels} pixels, more than twice the limit of {limit} "
                          "(rpncodec.limits.MAX_IMAGE_PIXELS)")
        return found

    async def lookup(self, name: str) -> FileInfo:
        return await to_thread.run_sync(self.lookup_sync, name)

    async def index(self, request: Request) -> Response:
        listed = await to_thread.run_sync(names.listing, self.folder)
        items = "".join(f'<li><a href="/view/{n}">{n}</a> (<a href="/images/{n}/info">info'
                        f'</a>, <a href="/files/{n}.rpn">file</a>, <a href="/web/view.html?'
                        f'src={n}.rpn">decoded in the browser</a>)</li>' for n in listed)
        return HTMLResponse(f"<!doctype html><title>rpncodec serve</title><h1>{len(listed)} "
                            f"files</h1><ul>{items}</ul>", headers=SECURITY)

    async def files(self, request: Request) -> Response:
        file = request.path_params["file"]
        if not file.endswith(names.SUFFIX):
            return error(404, "files are served as /files/NAME.rpn")
        name = file[: -len(names.SUFFIX)]
        try:
            path = await to_thread.run_sync(names.resolve, self.folder, name)
            stat = await to_thread.run_sync(path.stat)
        except names.BadName as exc:
            return error(exc.status, str(exc))
        except OSError:
            return error(404, f"no file named {name}")
        etag = etag_of(stat)
        if etag_matches(request, etag):
            return _not_modified(etag, self.cache_control)
        return FileResponse(path, stat_result=stat, media_type="application/octet-stream",
                            headers={"etag": etag, "cache-control": self.cache_control,
                                     **SECURITY})

    async def info(self, request: Request) -> Response:
        try:
            found = await self.lookup(request.path_params["name"])
        except Refused as exc:
            return error(exc.status, str(exc))
        return JSONResponse(found.to_json(), headers={"etag": found.etag,
                                                      "cache-control": "no-cache",
                                                      **SECURITY})

    def choose_layer(self, found: FileInfo, query) -> int:
        """The layer a query asks for (400 for a malformed or impossible one): ``layers=K``,
        ``width=W`` (``layers_for_width``), or both (the width's resolution within K layers)."""
        declared = found.header.layers
        layers, width = query.get("layers"), query.get("width")
        if layers is not None:
            if not (layers.isascii() and layers.isdigit() and len(layers) <= 9) or \
                    not 1 <= int(layers) <= declared:
                raise Refused(400, f"layers must be a whole number from 1 to {declared} "
                              f"({found.name} has {declared} layers), not {layers[:20]!r}")
            layers = int(layers)
        if width is None:
            return found.available or declared if layers is None else layers
        if not width.isascii() or not width.isdigit():
            raise Refused(400, f"width must be a whole number of pixels, not {width[:20]!r}")
        if len(width) > 9:
            raise Refused(400, f"width={width[:20]} is above the largest width this server "
                          "accepts (999999999; any width above the largest layer's gives that "
                          "layer's resolution)")
        try:
            return layers_for_width(found.header, int(width), layers)
        except RpncodecError as exc:
            raise Refused(400, f"{found.name}: {exc}") from None

    async def image(self, request: Request) -> Response:
        query = request.query_params
        fmt = query.get("format", "png")
        if fmt not in FORMATS:
            return error(400, f"format must be one of {', '.join(FORMATS)}")
        try:
            found = await self.lookup(request.path_params["name"])
            k = self.choose_layer(found, query)
        except Refused as exc:
            return error(exc.status, str(exc))
        problem = _select_message(found, k)
        if problem:
            return error(422, f"{found.name}: {problem}")
        w, h = found.layer_size(k)
        if w * h > self.config.max_pixels:
            return error(422, f"{found.name}: layer {k} decodes to {w}x{h} = {w * h} pixels, "
                         f"above this server's limit of {self.config.max_pixels} "
                         "(rpncodec serve --max-pixels)")
        etag = f'{found.etag[:-1]}-{k}-{fmt}"'
        if etag_matches(request, etag):
            return _not_modified(etag, self.cache_control)
        pool = self.pool
        try:
            key = (str(found.path), found.etag, k, fmt)
            data, seconds = await pool.image(key, str(found.path), k, fmt)
        except Busy as exc:
            return error(503, str(exc), {"retry-after": "1"})
        except RenderError as exc:
            return error(exc.status, f"{found.name}: {exc}")
        return Response(data, media_type=FORMATS[fmt], headers={
            "etag": etag, "cache-control": self.cache_control, "x-rpn-layer": str(k),
            "server-timing": f"decode;dur={1000 * seconds:.1f}",
            "x-rpn-layers": str(found.header.layers), "x-rpn-bytes": str(found.layers[k - 1].end),
            **SECURITY})

    async def view(self, request: Request) -> Response:
        try:
            found = await self.lookup(request.path_params["name"])
        except Refused as exc:
            return error(exc.status, str(exc))
        return HTMLResponse(page(found.to_json()), headers={"content-security-policy": _VIEWER_CSP,
                                                       "cache-control": "no-cache",
                                                       **SECURITY})

    async def script(self, request: Request) -> Response:
        return Response(SCRIPT, media_type="text/javascript",
                        headers={"cache-control": "no-cache", **SECURITY})

    @staticmethod
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return error(exc.status_code, exc.detail, dict(exc.headers or {}))

    @staticmethod
    async def unexpected(request: Request, exc: Exception) -> Response:
        print(f"rpncodec serve: internal error on {request.url.path}: {exc!r}", file=sys.stderr)
        return error(500, "internal error")

    @asynccontextmanager
    async def lifespan(self, app: Starlette):
        self.pool = DecodePool(self.config)
        await to_thread.run_sync(self.pool.warm_up)
        try:
            yield
        finally:
            self.pool.close()


def create_app(config: ServeConfig) -> Starlette:
    """The ASGI application serving ``config.folder``."""
    service = Service(config)
    routes = [
        Route("/", service.index),
        Route("/files/{file}", service.files),
        Route("/images/{name}/info", service.info),
        Route("/images/{name}", service.image),
        Route("/view/{name}", service.view),
        Route("/static/viewer.js", service.script),
        *IIIFRoutes(service).routes(),
        *WebRoutes(service).routes(),
    ]
    app = Starlette(routes=routes, lifespan=service.lifespan,
                    exception_handlers={HTTPException: Service.http_error,
                                        Exception: Service.unexpected})
    app.state.config = config
    app.state.service = service
    return app


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the service until interrupted (uvicorn, one event loop, ``config.workers``
    decoding processes)."""
    import uvicorn

    config = replace(config, folder=Path(config.folder).resolve())
    count = len(names.listing(config.folder))
    print(f"rpncodec serve: {count} files from {config.folder} on http://{host}:{port}/ "
          f"({config.workers} decoding processes)", file=sys.stderr)
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning",
                limit_concurrency=2048, timeout_graceful_shutdown=5,
                timeout_keep_alive=config.keep_alive_s,
                http=timed_protocol(config.request_timeout_s))
