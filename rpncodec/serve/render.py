"""What a worker process does: decode the first k layers of a file and encode the image
(``render``), or decode one tile of a file for a IIIF request (``render_tile``).

Runs in the pool's processes (never on the event loop). The file is read only as far as the
layers asked for (``remote.FileSource``, the same lazy prefix a URL client reads) and decoded
by ``codec.decode``: the pixels are those ``rpncodec decode`` writes. A per-request time budget
is enforced inside the worker with ``SIGALRM``, which interrupts the decode between tensor
operations and leaves the worker alive for the next request.

Results are plain tuples (``("ok", bytes, seconds)`` or ``("error", status, message)``) so no
exception object has to cross the process boundary.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
import traceback
from contextlib import contextmanager

import numpy as np

_models: dict = {}  # name -> LoadedModel, loaded once per worker
_threads = 1
_extra: dict[str, str] = {}  # model name a file records -> weights file (``serve --model``)

FORMATS = {"png": "image/png", "webp": "image/webp"}


class BudgetExceeded(BaseException):
    """The decode ran past the request's time budget (a BaseException, so that no
    ``except Exception`` inside the codec turns it into another error)."""


def init_worker(extra_models: tuple[tuple[str, str], ...], threads: int = 1) -> None:
    """Pool initializer: one network thread per worker (the pool supplies the parallelism),
    and a watchdog that ends the worker if the server dies without shutting the pool down."""
    global _threads
    _threads = threads
    _extra.update(dict(extra_models))
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _model(name: str):
    from ..backend import open_model

    if name not in _models:
        _models[name] = open_model(_extra.get(name, name), threads=_threads)
    return _models[name]


@contextmanager
def _budget(seconds: float):
    def expire(signum, frame):
        raise BudgetExceeded

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def encode_image(image, fmt: str) -> bytes:
    """PNG (or lossless WebP) bytes of a uint8 RGB array: lossless, so the client gets the
    decoder's exact pixels."""
    from PIL import Image

    out = io.BytesIO()
    if fmt == "webp":
        Image.fromarray(image).save(out, format="WEBP", lossless=True, quality=30, method=2)
    else:
        Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def _unknown_model(model: str) -> tuple | None:
    if model not in _extra and model not in _registry():
        return ("error", 422, f"the file was encoded with model {model!r}, which this "
                "server does not have (serve --model FILE adds one)")
    return None


def render(path: str, layers: int, fmt: str, budget_s: float, max_pixels: int) -> tuple:
    """Decode ``layers`` layers of the file at ``path`` to ``fmt`` bytes, or say why not."""
    from .. import bitstream, codec
    from ..remote import FileSource, RemoteRpn

    try:
        source = RemoteRpn(FileSource(path))
        header = source.header
        unknown = _unknown_model(header.model)
        if unknown:
            return unknown
        model = _model(header.model)  # loaded once per worker, outside the request's budget
        t0 = time.perf_counter()
        with _budget(budget_s):
            prefix = source.prefix(layers)
            container = bitstream.parse(prefix)
            bitstream.select(container, layers)
            decoded = codec.decode(prefix, layers, model)
            h, w = decoded.image.shape[:2]
            if h * w > max_pixels:  # the app checks first; this is the last line of defence
                return ("error", 422, f"layer {layers} is {w}x{h} pixels, above this server's "
                        f"limit of {max_pixels}")
            return ("ok", encode_image(decoded.image, fmt), time.perf_counter() - t0)
    except (BudgetExceeded, Exception) as exc:
        return _failure(exc, f"layer {layers}", budget_s)


def render_tile(path: str, header, ranges: list[tuple[int, int]], height: int, width: int,
                extent: tuple[int, int], budget_s: float) -> tuple:
    """Decode one tile (coded ``height`` x ``width``) from its strings at file byte
    ``ranges`` (one per layer), reading nothing else of the file.

    Returns ``("ok", uint8 array of extent rows x cols, seconds, bytes read)`` or
    ``("error", status, message)``. The pixels are those of the same tile in
    ``codec.decode`` (tiles are coded independently)."""
    from .. import codec

    layers = len(ranges)
    try:
        unknown = _unknown_model(header.model)
        if unknown:
            return unknown
        model = codec.model_for(header, _model(header.model))  # checks the weights digest
        t0 = time.perf_counter()
        with _budget(budget_s):
            with open(path, "rb") as f:
                strings = []
                for start, end in ranges:
                    f.seek(start)
                    strings.append(f.read(end - start))
            if any(len(s) != end - start for s, (start, end) in zip(strings, ranges,
                                                                     strict=True)):
                return ("error", 422, "the file changed while it was read; retry")
            learned, correction, residuals = codec.tile_parts(header, strings)
            tile = model.decode_tile(learned, height, width)
            rows, cols = extent
            if tile.shape[0] < rows or tile.shape[1] < cols:
                return ("error", 422, f"a tile decoded to {tile.shape[1]}x{tile.shape[0]}, "
                        f"smaller than its {cols}x{rows} place in layer {layers}")
            pixels = np.ascontiguousarray(codec.finish_tile(header, layers, tile[:rows, :cols],
                                                            correction, residuals))
            return ("ok", pixels, time.perf_counter() - t0, sum(len(s) for s in strings))
    except (BudgetExceeded, Exception) as exc:
        return _failure(exc, f"a tile at layer {layers}", budget_s)


def _failure(exc: BaseException, what: str, budget_s: float) -> tuple:
    """The error result of a decode of ``what`` that raised ``exc``: 503 past the time
    budget, else 422 (a file that breaks the decoder is still a bad file, not a 500)."""
    from ..errors import RpncodecError

    if isinstance(exc, BudgetExceeded):
        return ("error", 503, f"decoding {what} took longer than this server's time budget "
                f"of {budget_s:g} s per request")
    if isinstance(exc, RpncodecError):
        return ("error", 422, str(exc))
    traceback.print_exc(file=sys.stderr)
    return ("error", 422, f"{what} does not decode ({type(exc).__name__})")


def rss_bytes() -> int:
    """Resident memory of this process now (Linux ``/proc``; 0 where it cannot be read)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def measured(fn, *args) -> tuple[tuple, int]:
    """``fn(*args)`` in a worker, with the worker's resident memory after it (the pool
    recycles a worker that grew past its limit)."""
    return fn(*args), rss_bytes()


def _registry():
    from ..zoo import REGISTRY

    return REGISTRY
