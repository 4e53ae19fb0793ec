"""Settings of ``rpncodec serve``, with defaults that keep a public server safe."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# 16.8 megapixels (a 4096x4096 or a 16 MP photo): 1/16 of the decoder's 2**28. A file of a few
# hundred bytes can declare a huge image; like Pillow's MAX_IMAGE_PIXELS, the service refuses
# to decode past this many output pixels, before anything is allocated.
DEFAULT_MAX_PIXELS = 2**24
DEFAULT_TIME_BUDGET_S = 20.0
DEFAULT_CACHE_BYTES = 256 * 2**20
DEFAULT_MAX_QUEUE = 256


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
    max_queue: int = DEFAULT_MAX_QUEUE  # decodes waiting for a worker before 503
    models: tuple[tuple[str, str], ...] = ()  # (name a file records, weights file) extras
    max_age_s: int = 3600  # Cache-Control max-age of files and images (ETag revalidates)
