"""A least-recently-used cache whose bound is the total size of its values in bytes.

Decoded layers are cached as the encoded PNG/WebP bytes the client receives (with how long
the decode took), so the bound is the memory they take. A value larger than a quarter of the
bound is not kept (it would evict everything else for one entry).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class ByteLRU:
    """``get``/``put`` of ``(bytes, extra)`` values; evicts the least recently used past
    ``max_bytes`` (the total length of the bytes)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = self.misses = 0
        self._items: OrderedDict[Hashable, tuple[bytes, object]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> tuple[bytes, object] | None:
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: tuple[bytes, object]) -> None:
        if len(value[0]) > self.max_bytes // 4:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old[0])
        self._items[key] = value
        self.size += len(value[0])
        while self.size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self.size -= len(evicted[0])
