"""A least-recently-used cache whose bound is the total size of its values in bytes.

Decoded layers and IIIF images are cached as the encoded bytes the client receives, decoded
tiles as their uint8 pixel arrays; either way the bound is the memory the buffers take
(``memoryview(...).nbytes``). A value larger than a quarter of the bound is not kept (it would
evict everything else for one entry).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class ByteLRU:
    """``get``/``put`` of ``(buffer, *extra)`` tuples (the buffer: bytes or a contiguous
    array); evicts the least recently used past ``max_bytes`` (the buffers' total size)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = self.misses = 0
        self._items: OrderedDict[Hashable, tuple] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> tuple | None:
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: tuple) -> None:
        size = _nbytes(value)
        if size > self.max_bytes // 4:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= _nbytes(old)
        self._items[key] = value
        self.size += size
        while self.size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self.size -= _nbytes(evicted)


def _nbytes(value: tuple) -> int:
    return memoryview(value[0]).nbytes
