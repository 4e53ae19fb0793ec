"""Settings of ``rpncodec serve``, with defaults that keep a public server safe."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .plan import DEFAULT_QUALITY_FULL_SCALE

# 16.8 megapixels (a 4096x4096 or a 16 MP photo): 1/16 of the decoder's 2**28. A file of a few
# hundred bytes can declare a huge image; like Pillow's MAX_IMAGE_PIXELS, the service refuses
# to decode past this many output pixels, before anything is allocated.
DEFAULT_MAX_PIXELS = 2**24
DEFAULT_TIME_BUDGET_S = 20.0
DEFAULT_CACHE_BYTES = 256 * 2**20
DEFAULT_MAX_QUEUE = 256
DEFAULT_TILE_CACHE_BYTES = 256 * 2**20
# A decoding process is replaced after this many decodes, or as soon as its resident memory
# is above DEFAULT_WORKER_MAX_BYTES after a decode (gunicorn's max_requests, and a memory cap):
# ONNX Runtime's arenas and the allocator keep what the largest decode took, so a long-lived
# worker only grows (docs/iiif.md, "Worker memory", has the figures). Replacing one costs a
# process start and a model load (seconds), hence a cap above a worker's usual working set.
DEFAULT_MAX_DECODES = 200
DEFAULT_WORKER_MAX_BYTES = 1536 * 2**20
DEFAULT_REQUEST_TIMEOUT_S = 10.0  # a client must send a whole request within this
DEFAULT_KEEP_ALIVE_S = 5.0  # an idle kept-alive connection is closed after this


def default_workers() -> int:
    """One decoding process per core, at most 4 (each decodes with one torch thread)."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class ServeConfig:
    """What ``rpncodec serve`` serves and how much it may spend per request."""

    folder: Path
    workers: int = field(default_factory=default_workers)
    cache_bytes: int = DEFAULT_CACHE_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    time_budget_s: float = DEFAULT_TIME_BUDGET_S
    max_queue: int = DEFAULT_MAX_QUEUE  # decodes (IIIF: requests) waiting before 503
    models: tuple[tuple[str, str], ...] = ()  # (name a file records, weights file) extras
    max_age_s: int = 3600  # Cache-Control max-age of files and images (ETag revalidates)
    tile_cache_bytes: int = DEFAULT_TILE_CACHE_BYTES  # decoded tiles (IIIF), in bytes
    # quality files: output scale at and above which IIIF requests decode every layer
    # (one layer fewer per halving below it; 0: always every layer). See serve/plan.py.
    quality_full_scale: float = DEFAULT_QUALITY_FULL_SCALE
    max_decodes_per_worker: int = DEFAULT_MAX_DECODES  # 0: never recycle by count
    worker_max_bytes: int = DEFAULT_WORKER_MAX_BYTES  # 0: never recycle by memory
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    keep_alive_s: float = DEFAULT_KEEP_ALIVE_S
