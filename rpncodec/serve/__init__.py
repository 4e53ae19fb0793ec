"""``rpncodec serve``: one stored ``.rpn`` file serves every layer over plain HTTP.

Modules, one job each: :mod:`.config` (the settings and their safe defaults), :mod:`.names`
(URL name -> file inside the served folder, never outside), :mod:`.catalog` (what a file holds:
parsed once per version of the file), :mod:`.cache` (LRU of encoded layers, bounded in bytes),
:mod:`.render` (decode + PNG/WebP in a worker process, under a time budget), :mod:`.pool` (the
bounded worker pool, with one decode per key in flight, recycling workers), :mod:`.viewer`
(the progressive viewer page), :mod:`.responses` (error shape, conditional requests),
:mod:`.protocol` (uvicorn's HTTP protocol with a request deadline) and :mod:`.app` (the
Starlette routes and uvicorn). The IIIF Image API: :mod:`.iiif` (URL syntax and info.json),
:mod:`.plan` (which layer and tiles a request needs), :mod:`.compose` (tiles to the response
image) and :mod:`.iiif_routes` (its routes).

Starlette and uvicorn are imported only here (the ``rpncodec[serve]`` extra); the codec itself
does not need them.
"""

from .config import DEFAULT_MAX_PIXELS, ServeConfig

__all__ = ["DEFAULT_MAX_PIXELS", "ServeConfig"]
