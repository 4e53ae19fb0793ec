"""The bounded pool of decoding processes, with a byte-bounded cache in front of it.

Decoding is CPU-bound, so it runs in ``workers`` processes (a ``ProcessPoolExecutor``; the
event loop only awaits). Identical requests share one decode (single flight): a hundred
clients asking for the same uncached layer cost one decode. At most ``max_queue`` distinct
decodes wait at once; past that the service answers 503 with ``Retry-After`` rather than
queueing without bound. A worker that dies (killed, out of memory) breaks the pool; it is
replaced and the request that saw it gets a 503. Workers are recycled after a number of
decodes or above a memory limit (:class:`DecodePool`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Hashable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from .cache import ByteLRU
from .config import ServeConfig
from .render import init_worker, measured, render, render_tile


class Busy(Exception):
    """Too many decodes are waiting, or the pool had to be restarted (status 503)."""


class RenderError(Exception):
    """The worker could not produce the image; ``status`` and the message say why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class DecodePool:
    """``await pool.image(key, path, layers, fmt)`` -> (encoded image bytes, decode seconds);
    ``await pool.tile(key, ...)`` -> ((pixels, seconds, bytes read), decoded by this call?).

    Workers are bounded in memory: each is replaced after ``max_decodes_per_worker`` decodes
    (the executor's ``max_tasks_per_child``), and the whole set is replaced, gracefully (running
    decodes finish in the old processes), when a worker reports a resident size above
    ``worker_max_bytes`` after a decode."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.cache = ByteLRU(config.cache_bytes)
        self.tiles = ByteLRU(config.tile_cache_bytes)
        self._pending: dict[Hashable, asyncio.Future] = {}
        self._executor = self._new_executor()
        self.decodes = 0
        self.requests_waiting = 0  # IIIF requests waiting for their tiles
        self._slots: asyncio.Semaphore | None = None  # one per worker, made in the event loop
        self.recycled = 0  # executors replaced because a worker grew past its memory limit

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn: the server process has threads (event loop, file I/O); forking it is unsafe
        return ProcessPoolExecutor(self.config.workers,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=init_worker, initargs=(self.config.models, 1),
                                   max_tasks_per_child=self.config.max_decodes_per_worker or None)

    def warm_up(self) -> None:
        """Start every worker now (importing torch takes seconds) rather than on the first
        requests."""
        futures = [self._executor.submit(int, 0) for _ in range(self.config.workers)]
        for f in futures:
            f.result()

    async def image(self, key: Hashable, path: str, layers: int,
                    fmt: str) -> tuple[bytes, float]:
        c = self.config
        value, _ = await self._shared(self.cache, key, True, render, path, layers, fmt,
                                      c.time_budget_s, c.max_pixels)
        return value

    @contextmanager
    def request(self):
        """Admit one IIIF request, whose tile decodes are one unit of work: :class:`Busy` when
        ``max_queue`` such requests are already waiting for decodes."""
        if self.requests_waiting >= self.config.max_queue:
            raise Busy(f"{self.requests_waiting} image requests are already waiting for "
                       "decodes; retry shortly")
        self.requests_waiting += 1
        try:
            yield
        finally:
            self.requests_waiting -= 1

    async def tile(self, key: Hashable, path: str, header, ranges: list[tuple[int, int]],
                   height: int, width: int, extent: tuple[int, int]) -> tuple[tuple, bool]:
        """One decoded tile (see :func:`.render.render_tile`), and whether this call decoded
        it (False: from the cache, or shared with a call already decoding it). Called inside
        :meth:`request`."""
        return await self._shared(self.tiles, key, False, render_tile, path, header, ranges,
                                  height, width, extent, self.config.time_budget_s)

    async def _shared(self, cache: ByteLRU, key: Hashable, admit: bool, fn,
                      *args) -> tuple[tuple, bool]:
        """The cached value of ``key``, else one decode of ``fn(*args)`` shared by every
        request for ``key`` meanwhile (single flight), and whether this call started that
        decode. ``admit``: refuse (:class:`Busy`) when ``max_queue`` decodes are waiting."""
        cached = cache.get(key)
        if cached is not None:
            return cached, False
        shared = self._pending.get(key)
        started = shared is None
        if started:
            if admit and len(self._pending) >= self.config.max_queue:
                raise Busy(f"{len(self._pending)} decodes are already waiting; retry shortly")
            shared = asyncio.ensure_future(self._decode(cache, key, fn, args))
            self._pending[key] = shared
            shared.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(shared), started

    async def _decode(self, cache: ByteLRU, key: Hashable, fn, args: tuple) -> tuple:
        loop = asyncio.get_running_loop()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.workers)
        try:
            # Decodes wait here, not in the executor: it holds at most one per worker, so
            # replacing it (recycling) leaves the old processes little to finish.
            async with self._slots:
                executor = self._executor
                future = loop.run_in_executor(executor, measured, fn, *args)
                # the worker enforces the budget itself; this outer limit only guards against
                # a worker that cannot be interrupted
                result, rss = await asyncio.wait_for(future, self.config.time_budget_s * 2 + 30)
        except BrokenProcessPool:
            if executor is self._executor:
                self._replace_executor()
            raise Busy("a decoding process died; retry shortly") from None
        except TimeoutError:
            raise Busy("the decoding processes are overloaded; retry shortly") from None
        self.decodes += 1
        limit = self.config.worker_max_bytes
        if limit and rss > limit and executor is self._executor:
            self.recycled += 1
            self._replace_executor()
        if result[0] != "ok":
            raise RenderError(result[1], result[2])
        value = tuple(result[1:])
        cache.put(key, value)
        return value

    def _replace_executor(self) -> None:
        """New workers for the next decodes; the old ones finish what they run, then exit."""
        old, self._executor = self._executor, self._new_executor()
        old.shutdown(wait=False)

    def close(self) -> None:
        """Stop the workers (a running decode finishes first; it has a time budget)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
