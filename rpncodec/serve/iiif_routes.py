"""The IIIF Image API 3.0 routes of ``rpncodec serve`` (HTTP glue; the syntax is in
:mod:`.iiif`, the geometry in :mod:`.plan`, the pixels in :mod:`.compose`).

    GET /iiif/3/ID                                  303 to ID/info.json
    GET /iiif/3/ID/info.json                        the image information (JSON-LD on request)
    GET /iiif/3/ID/{region}/{size}/{rotation}/{quality}.{format}

``ID`` is a served file's name without ``.rpn``. Every response (errors and ``OPTIONS``
included) allows any origin (CORS), so a viewer on another site can open the image. Images
carry their canonical and profile ``Link`` headers, a strong ``ETag`` (304 on
``If-None-Match``) and ``Cache-Control``, and say what the request cost:
``X-Rpn-Layers`` (layers decoded), ``X-Rpn-Tiles`` (tiles used / of the file),
``X-Rpn-Tiles-Decoded`` (decoded for this request: not from the tile cache nor shared with
another request decoding them), ``X-Rpn-Bytes-Read`` (file bytes those decodes read) and
``Server-Timing`` (decode and compose milliseconds).
"""

from __future__ import annotations

import asyncio
import hashlib
import time

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import iiif
from .compose import compose
from .plan import Plan, plan
from .pool import Busy, RenderError
from .responses import Refused, error, etag_matches, not_modified

PREFIX = "/iiif/3"
CORS = {"access-control-allow-origin": "*",
        "access-control-expose-headers": "link, etag, server-timing, x-rpn-layers, "
                                         "x-rpn-tiles, x-rpn-tiles-decoded, x-rpn-bytes-read"}
_NOTHING = {"decoded": 0, "bytes": 0, "decode_ms": 0.0, "compose_ms": 0.0}  # a cached image


def _tag(*parts: str) -> str:
    return '"' + hashlib.blake2b("|".join(parts).encode(), digest_size=12).hexdigest() + '"'


def scale_factors(header, available: int) -> list[int]:
    """Files with layers at several resolutions (spatial, spatial-quality): 1, 2, 4... one per
    resolution among the layers that decode. Other files: powers of two until the whole image
    fits one tile (each is a resize of the full-size layers)."""
    if header.multi_resolution:
        return [2**j for j in range(max(1, len(set(header.shifts[:available]))))]
    factors = [1]
    while -(-max(header.width, header.height) // factors[-1]) > header.tile:
        factors.append(factors[-1] * 2)
    return factors


class IIIFRoutes:
    """The IIIF routes of one :class:`~.app.Service` (its lookup, pool and settings)."""

    def __init__(self, service) -> None:
        self.service = service
        self.config = service.config

    def routes(self) -> list[Route]:
        methods = ["GET", "HEAD", "OPTIONS"]
        return [
            Route(PREFIX + "/{identifier}", self.base, methods=methods),
            Route(PREFIX + "/{identifier}/info.json", self.info, methods=methods),
            Route(PREFIX + "/{identifier}/{region}/{size}/{rotation}/{quality_format}",
                  self.image, methods=methods),
        ]

    def _error(self, status: int, message: str, extra: dict[str, str] | None = None) -> Response:
        return error(status, message, {**CORS, **(extra or {})})

    @staticmethod
    def _preflight() -> Response:
        return Response(status_code=204, headers={
            **CORS, "access-control-allow-methods": "GET, HEAD, OPTIONS",
            "access-control-allow-headers": "*", "access-control-max-age": "86400"})

    def _id(self, request: Request, identifier: str) -> str:
        return f"{str(request.base_url).rstrip('/')}{PREFIX}/{identifier}"

    async def _lookup(self, identifier: str, decodable: bool = True):
        """``(file, None)``, or ``(None, error response)`` for a name that is invalid, unknown,
        unreadable or (with ``decodable``) has no layer that decodes."""
        try:
            found = await self.service.lookup(identifier)
        except Refused as exc:
            return None, self._error(exc.status, str(exc))
        if decodable and found.available == 0:
            return None, self._error(422, f"{identifier}: no layer of this file decodes "
                                     f"({found.damage or 'truncated'})")
        return found, None

    async def base(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self._preflight()
        identifier = request.path_params["identifier"]
        _, refused = await self._lookup(identifier, decodable=False)
        if refused:
            return refused
        return RedirectResponse(self._id(request, identifier) + "/info.json", status_code=303,
                                headers=CORS)

    async def info(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self._preflight()
        identifier = request.path_params["identifier"]
        found, refused = await self._lookup(identifier)
        if refused:
            return refused
        h = found.header
        base = self._id(request, identifier)
        factors = scale_factors(h, found.available)
        sizes = [(-(-h.width // f), -(-h.height // f)) for f in factors]
        body = iiif.info_json(base, h.width, h.height, sizes, h.tile, factors,
                              iiif.limits_for(h.width, h.height, self.config.max_pixels))
        jsonld = "application/ld+json" in request.headers.get("accept", "")
        etag = _tag(found.etag, base, str(jsonld))
        headers = {**CORS, "etag": etag, "cache-control": "no-cache", "vary": "accept"}
        if etag_matches(request, etag):
            return not_modified(headers)
        return JSONResponse(body, headers=headers,
                            media_type=iiif.JSONLD if jsonld else "application/json")

    async def image(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self._preflight()
        p = request.path_params
        found, refused = await self._lookup(p["identifier"])
        if refused:
            return refused
        h = found.header
        limits = iiif.limits_for(h.width, h.height, self.config.max_pixels)
        try:
            wanted = iiif.parse(p["region"], p["size"], p["rotation"], p["quality_format"],
                                h.width, h.height, limits)
        except iiif.IIIFError as exc:
            return self._error(exc.status, str(exc))
        todo = plan(h, found.available, wanted.region, wanted.size,
                    self.config.quality_full_scale)
        canonical = wanted.canonical(h.width, h.height, limits)
        base = self._id(request, p["identifier"])
        etag = _tag(found.etag, canonical, str(todo.layers))  # the layers follow the policy
        headers = {**CORS, "etag": etag, "cache-control": self.service.cache_control,
                   "link": f'<{base}/{canonical}>;rel="canonical",'
                           f'<{iiif.PROFILE_URI}>;rel="profile"'}
        if etag_matches(request, etag):
            return not_modified(headers)
        if todo.crop_pixels > self.config.max_pixels:
            return self._error(400, f"{found.name}: region {p['region']} decodes to "
                               f"{todo.crop_pixels} pixels at layer {todo.layers}, above this "
                               f"server's limit of {self.config.max_pixels}; ask for a "
                               "smaller region")
        pool = self.service.pool
        key = ("iiif", str(found.path), found.etag, canonical, todo.layers)
        cached = pool.cache.get(key)
        if cached is not None:
            return self._respond(cached[0], wanted, todo, found, headers, _NOTHING)
        try:
            with pool.request():
                t0 = time.perf_counter()
                decoded = await asyncio.gather(*(
                    pool.tile((str(found.path), found.etag, todo.layers, piece.index),
                              str(found.path), h, found.tile_ranges(todo.layers, piece.index),
                              piece.height, piece.width, (piece.rows, piece.cols))
                    for piece in todo.tiles))
            t1 = time.perf_counter()
            body = await to_thread.run_sync(compose, todo, [d[0][0] for d in decoded], wanted)
            t2 = time.perf_counter()
        except Busy as exc:
            return self._error(503, str(exc), {"retry-after": "1"})
        except RenderError as exc:
            return self._error(exc.status, f"{found.name}: {exc}")
        fresh = [value for value, started in decoded if started]
        cost = {"decoded": len(fresh), "bytes": sum(v[2] for v in fresh),
                "decode_ms": 1000 * (t1 - t0), "compose_ms": 1000 * (t2 - t1)}
        pool.cache.put(key, (body,))
        return self._respond(body, wanted, todo, found, headers, cost)

    def _respond(self, body: bytes, wanted: iiif.ImageRequest, todo: Plan, found,
                 headers: dict[str, str], cost: dict) -> Response:
        return Response(body, media_type=iiif.FORMATS[wanted.format], headers={
            **headers, "x-rpn-layers": str(todo.layers),
            "x-rpn-tiles": f"{len(todo.tiles)}/{found.header.tiles}",
            "x-rpn-tiles-decoded": str(cost["decoded"]),
            "x-rpn-bytes-read": str(cost["bytes"]),
            "server-timing": f"decode;dur={cost['decode_ms']:.1f}, "
                             f"compose;dur={cost['compose_ms']:.1f}"})

