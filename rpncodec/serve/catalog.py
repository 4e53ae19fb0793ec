"""What each served file holds: its header, its intact layers and their byte ranges.

A file is parsed once per version (inode, size, modification time) and the small summary is
kept, so the info route and the checks before a decode cost no re-read. Parsing applies the
codec's own rules (``bitstream.parse``): a damaged or cut file reports the layers that still
decode, and an impossible header (e.g. a declared size past the decoder's limit) is refused
before anything image-sized is allocated.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from .. import api, bitstream
from ..bitstream import layer_size
from ..errors import RpncodecError

MAX_FILE_BYTES = 2**31  # no .rpn file rpncodec writes is larger


@dataclass(frozen=True)
class LayerInfo(api.LayerInfo):
    """Layer k of a served file (its chunk's byte range and the size it decodes to, as
    :func:`rpncodec.info` gives them) and where its tile strings are."""

    # file offsets of the tile strings: tile i is bytes [tile_offsets[i], tile_offsets[i + 1])
    tile_offsets: tuple[int, ...] = ()


@dataclass(frozen=True)
class FileInfo:
    """One version of one served file."""

    name: str
    path: Path
    size: int
    etag: str  # quoted strong validator of this version of the file
    header: bitstream.Header
    layers: tuple[LayerInfo, ...]  # the intact prefix only
    damaged: int | None
    damage: str | None
    truncated: bool

    @property
    def available(self) -> int:
        return len(self.layers)

    def layer_size(self, k: int) -> tuple[int, int]:
        """``(width, height)`` layer ``k`` decodes to (spatial layers are smaller)."""
        return layer_size(self.header, k)

    def tile_ranges(self, layers: int, index: int) -> list[tuple[int, int]]:
        """File byte ranges of tile ``index``'s strings in layers 1..``layers``: all a
        decode of that tile reads."""
        return [(li.tile_offsets[index], li.tile_offsets[index + 1])
                for li in self.layers[:layers]]

    def to_json(self) -> dict:
        h = self.header
        return {
            "name": self.name, "file": f"/files/{self.name}.rpn", "bytes": self.size,
            "etag": self.etag, "mode": h.mode, "model": h.model, "digest": h.digest.hex(),
            "width": h.width, "height": h.height, "tile": h.tile, "tiles": h.tiles,
            "layers": h.layers, "available": self.available, "damaged": self.damaged,
            "damage": self.damage, "truncated": self.truncated,
            "per_layer": [
                {"layer": li.layer, "start": li.start, "end": li.end,
                 "bytes": li.bytes, "cumulative_bytes": li.end,
                 "width": li.width, "height": li.height,
                 "url": f"/images/{self.name}?layers={li.layer}"}
                for li in self.layers],
        }


def etag_of(stat) -> str:
    """A strong validator of one version of a file (inode, size, mtime in ns)."""
    key = f"{stat.st_ino}-{stat.st_size}-{stat.st_mtime_ns}".encode()
    return '"' + hashlib.blake2b(key, digest_size=12).hexdigest() + '"'


def _tile_offsets(payload: bytes, start: int, tiles: int) -> tuple[int, ...]:
    """File offsets where each tile string of a layer payload (whose chunk starts at
    ``start``) begins, and where the last one ends."""
    strings = bitstream.split_tiles(payload, tiles)
    first = start + bitstream.CHUNK_OVERHEAD + 4 * (tiles - 1)
    return tuple(accumulate((len(s) for s in strings), initial=first))


def summarize(name: str, path: Path, data: bytes, etag: str) -> FileInfo:
    """Parse ``data`` (the file's bytes) into a :class:`FileInfo`; raises RpncodecError when
    even the header is unusable."""
    c = bitstream.parse(data)
    layers = tuple(LayerInfo(k, start, end, *layer_size(c.header, k),
                             _tile_offsets(chunk, start, c.header.tiles))
                   for k, ((start, end), chunk) in enumerate(zip(c.byte_ranges, c.chunks,
                                                                 strict=True), 1))
    return FileInfo(name, path, len(data), etag, c.header, layers, c.damaged, c.damage,
                    c.truncated)


class Catalog:
    """Thread-safe memo of :func:`summarize` keyed by file version (at most ``size`` files)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: OrderedDict[tuple[Path, str], FileInfo | RpncodecError] = OrderedDict()
        self._lock = threading.Lock()

    def info(self, name: str, path: Path) -> FileInfo:
        """The summary of the current version of ``path`` (read and parsed when it changed).

        Raises :class:`RpncodecError` for a file whose header does not parse, or too large."""
        stat = path.stat()
        etag = etag_of(stat)
        key = (path, etag)
        with self._lock:
            known = self._items.get(key)
            if known is not None:
                self._items.move_to_end(key)
        if known is None:
            if stat.st_size > MAX_FILE_BYTES:
                known = RpncodecError(f"{name}.rpn is larger than any .rpn file")
            else:
                try:
                    known = summarize(name, path, path.read_bytes(), etag)
                except RpncodecError as exc:
                    known = exc
            with self._lock:
                self._items[key] = known
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        if isinstance(known, RpncodecError):
            raise known
        return known
