"""Read ``.rpn`` files from a URL, fetching only the bytes of the layers asked for.

A scalable file is useful only if a client can stop reading it early. The container is laid
out for that (``bitstream``: header, then per layer ``length | crc | payload``), so decoding
layer k needs the first ``end_k`` bytes of the file and nothing else. :func:`open` returns a
:class:`RemoteRpn` that reads

1. a probe of the first :data:`PROBE` bytes: the whole header (at most 112 bytes) and the
   length field of layer 1; a header with exact colours (format version 4) can be longer, up
   to :data:`MAX_HEADER` bytes, and then costs one more read;
2. for each layer asked for, its payload plus the next layer's 8-byte length field, in one
   ranged read (so layer j+1's position is known without another round trip).

Decoding layer 1 of a file therefore transfers ``end_1 + 8`` bytes in two requests. The bytes
read are always a prefix of the file, and that prefix is handed to ``codec.decode`` exactly as
a local file would be: same parser, same checks, same errors, same pixels.

Sources: ``http://`` and ``https://`` use ``Range`` requests through the standard library (any
static host, CDN or object store works; a server that ignores ``Range`` and answers 200 is read
once in full). Any other ``scheme://`` goes through fsspec's ranged reads (``file://``,
``s3://`` with s3fs installed, ``memory://``, ...). A plain path is read with ``seek``.
Every read is recorded (:attr:`RemoteRpn.reads`), so the bytes each layer costs can be shown.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from . import bitstream
from .errors import InputImageError, RpncodecError, TruncatedError

PROBE = bitstream.header_size("x" * 64, bitstream.MAX_LAYERS) + bitstream.CHUNK_OVERHEAD
MAX_HEADER = bitstream.header_size("x" * 64, bitstream.MAX_LAYERS, bitstream.MAX_PALETTE, True,
                                  True)
TIMEOUT_S = 30.0
MAX_FILE = 2**31  # no .rpn file rpncodec writes is larger; a server claiming more is refused
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_LENGTH = struct.Struct(">I")


def is_url(location: str) -> bool:
    """Whether ``location`` is a URL (``scheme://...``) rather than a local path."""
    return bool(_URL_RE.match(location))


@dataclass(frozen=True)
class Read:
    """One ranged read: what was asked (``[start, end)``), why, and the bytes that came back."""

    start: int
    end: int
    received: int
    purpose: str


class Source(Protocol):
    """Where the bytes come from. ``read`` returns at most ``end - start`` bytes; fewer means
    the file ends there."""

    location: str

    def read(self, start: int, end: int) -> bytes: ...


class HttpSource:
    """An ``http(s)://`` URL read with ``Range: bytes=start-(end-1)`` requests."""

    def __init__(self, url: str, timeout: float = TIMEOUT_S) -> None:
        self.location = url
        self.timeout = timeout
        self.size: int | None = None  # total size, from Content-Range when the server says it
        self._whole: bytes | None = None  # the file, when the server ignored Range

    def read(self, start: int, end: int) -> bytes:
        if self._whole is not None:
            return self._whole[start:end]
        if self.size is not None and start >= self.size:
            return b""
        import urllib.error  # here: a local `info` or `decode` need no HTTP client
        import urllib.request

        request = urllib.request.Request(self.location, headers={
            "Range": f"bytes={start}-{end - 1}", "User-Agent": "rpncodec"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if response.status == 206:
                    self._note_size(response.headers.get("Content-Range", ""), start)
                    return response.read(end - start)
                # 200: the server ignores Range; keep the whole file (bounded) for later reads
                body = response.read(MAX_FILE + 1)
                if len(body) > MAX_FILE:
                    raise InputImageError(f"{self.location} is larger than any .rpn file")
                self._whole, self.size = body, len(body)
                return body[start:end]
        except urllib.error.HTTPError as exc:
            if exc.code == 416:  # nothing at or after `start`: the file ends before it
                return b""
            raise InputImageError(f"cannot read {self.location}: HTTP {exc.code} "
                                  f"{exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise InputImageError(f"cannot read {self.location}: {reason}") from None

    def _note_size(self, content_range: str, start: int) -> None:
        match = _CONTENT_RANGE.fullmatch(content_range.strip())
        if not match or int(match[1]) != start:
            raise InputImageError(f"{self.location}: the server answered a range request "
                                  f"with a wrong Content-Range ({content_range!r})")
        if match[3] != "*":
            self.size = int(match[3])


class FsspecSource:
    """Any other ``scheme://`` URL, through fsspec's ranged ``cat_file``."""

    def __init__(self, url: str) -> None:
        try:
            import fsspec.core
        except ImportError:  # pragma: no cover - fsspec comes with torch
            raise RpncodecError("reading URLs needs fsspec: pip install 'rpncodec[serve]'") \
                from None
        self.location = url
        try:
            self._fs, self._path = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise InputImageError(f"cannot read {url}: {exc}") from None

    def read(self, start: int, end: int) -> bytes:
        try:
            return bytes(self._fs.cat_file(self._path, start=start, end=end))
        except FileNotFoundError:
            raise InputImageError(f"{self.location} does not exist") from None
        except (OSError, ValueError) as exc:
            raise InputImageError(f"cannot read {self.location}: {exc}") from None


class FileSource:
    """A local path, read with ``seek`` (the same lazy reads, without a network)."""

    def __init__(self, path: str | Path) -> None:
        self.location = str(path)
        self._path = Path(path)
        if self._path.is_dir():
            raise InputImageError(f"{path} is a directory, not an .rpn file")
        if not self._path.exists():
            raise InputImageError(f"{path} does not exist")

    def read(self, start: int, end: int) -> bytes:
        try:
            with self._path.open("rb") as f:
                f.seek(start)
                return f.read(end - start)
        except OSError as exc:
            raise InputImageError(f"cannot read {self.location}: {exc.strerror}") from None


def source_for(location: str) -> Source:
    """The :class:`Source` that reads ``location`` (URL or local path)."""
    if location.lower().startswith(("http://", "https://")):
        return HttpSource(location)
    if is_url(location):
        return FsspecSource(location)
    return FileSource(location)


class RemoteRpn:
    """An ``.rpn`` file whose layers are read only when asked for.

    The header is read on construction. :meth:`prefix` returns the first bytes of the file up
    to the end of layer k (a valid, possibly shorter-than-declared file), reading what is
    missing; :meth:`decode` and :meth:`truncated` work on that prefix with the local code paths.
    """

    def __init__(self, source: Source) -> None:
        self.source = source
        self.reads: list[Read] = []
        self._data = bytearray()
        self._eof = False
        self._fetch(PROBE, "header")
        try:
            self.header, self.header_size = bitstream._parse_header(bytes(self._data))
        except TruncatedError:
            if self._eof:
                raise
            self._fetch(MAX_HEADER + bitstream.CHUNK_OVERHEAD, "header")
            self.header, self.header_size = bitstream._parse_header(bytes(self._data))
        self._ends: list[int] = []  # end offset of each layer read so far (payload included)

    @property
    def location(self) -> str:
        return self.source.location

    @property
    def bytes_read(self) -> int:
        """Bytes transferred so far, over every read."""
        return sum(r.received for r in self.reads)

    def _fetch(self, end: int, purpose: str) -> None:
        """Extend the buffered prefix to ``end`` bytes (or to the end of the file)."""
        start = len(self._data)
        if end <= start or self._eof:
            return
        if end > MAX_FILE:
            raise InputImageError(f"{self.location} declares a layer past {MAX_FILE} bytes")
        chunk = self.source.read(start, end)
        chunk = chunk[: end - start]  # never trust a source to send only what was asked
        self.reads.append(Read(start, end, len(chunk), purpose))
        self._data += chunk
        if len(chunk) < end - start:
            self._eof = True

    def _load(self, layers: int) -> int:
        """Read layers up to ``layers`` (as far as the file goes); return the prefix length."""
        pos = self.header_size if not self._ends else self._ends[-1]
        total = self.header.layers
        while len(self._ends) < layers:
            index = len(self._ends) + 1
            self._fetch(pos + bitstream.CHUNK_OVERHEAD, f"layer {index}")
            if len(self._data) < pos + bitstream.CHUNK_OVERHEAD:
                break
            (length,) = _LENGTH.unpack_from(self._data, pos)
            if length > bitstream.MAX_PAYLOAD:
                break  # the parser reports the impossible length
            end = pos + bitstream.CHUNK_OVERHEAD + length
            lookahead = bitstream.CHUNK_OVERHEAD if index < total else 0
            self._fetch(end + lookahead, f"layer {index}")
            if len(self._data) < end:
                break
            self._ends.append(end)
            pos = end
        return self._ends[layers - 1] if len(self._ends) >= layers else len(self._data)

    def prefix(self, layers: int | None = None) -> bytes:
        """The file's first bytes up to the end of layer ``layers`` (default: every layer).

        When the file ends early the prefix is what there is; the parser then says how many
        layers are complete, exactly as for a cut local file.
        """
        wanted = self.header.layers if layers is None else max(1, min(layers,
                                                                      self.header.layers))
        return bytes(self._data[: self._load(wanted)])

    def container(self, layers: int | None = None) -> bitstream.Container:
        """:func:`bitstream.parse` of :meth:`prefix` (``layers`` bounds what is read)."""
        return bitstream.parse(self.prefix(layers))

    def decode(self, layers: int | None = None, model=None, device: str | None = None,
               backend: str | None = None, max_pixels: int | None = None):
        """``codec.decode`` of the first ``layers`` layers, reading only their bytes. The
        declared size is checked against ``max_pixels`` (:func:`rpncodec.limits.check_pixels`)
        before any layer is read."""
        from . import codec
        from .limits import check_pixels

        if layers is not None:
            self._check_layers(layers)
        check_pixels(self.header.width, self.header.height, max_pixels, what=self.location)
        return codec.decode(self.prefix(layers), layers, model, device, backend, max_pixels=0)

    def truncated(self, layers: int) -> bytes:
        """A valid file holding the first ``layers`` layers (see :func:`bitstream.truncate`)."""
        self._check_layers(layers)
        return bitstream.truncate(self.prefix(layers), layers)

    def _check_layers(self, layers: int) -> None:
        """Refuse a layer count outside 1..declared before reading anything, with the
        same message as a local file."""
        if not 1 <= layers <= self.header.layers:
            empty = bitstream.Container(self.header, [], 0, None, True, [])
            bitstream.select(empty, layers)

    def layout(self) -> list[tuple[int, int]]:
        """``(start, end)`` of every layer's chunk, found by reading only the 8-byte length
        fields (no payload): what ``info`` shows without downloading the file. Stops where the
        file ends; CRCs are not checked (that needs the payloads)."""
        ranges: list[tuple[int, int]] = []
        pos = self.header_size
        for index in range(1, self.header.layers + 1):
            if pos + bitstream.CHUNK_OVERHEAD <= len(self._data):
                field = bytes(self._data[pos : pos + bitstream.CHUNK_OVERHEAD])
            else:
                field = self.source.read(pos, pos + bitstream.CHUNK_OVERHEAD)
                self.reads.append(Read(pos, pos + bitstream.CHUNK_OVERHEAD, len(field),
                                       f"layer {index} length"))
            if len(field) < bitstream.CHUNK_OVERHEAD:
                break
            (length,) = _LENGTH.unpack_from(field)
            if length > bitstream.MAX_PAYLOAD:
                break
            end = pos + bitstream.CHUNK_OVERHEAD + length
            ranges.append((pos, end))
            pos = end
        return ranges

    def transfer_lines(self) -> list[str]:
        """One line per read: range, bytes received and what it was for."""
        lines = [f"{r.purpose:<16} bytes {r.start}-{r.end - 1}: {r.received} received"
                 for r in self.reads]
        lines.append(f"total            {self.bytes_read} bytes in {len(self.reads)} "
                     f"request{'s' * (len(self.reads) != 1)}")
        return lines


def open(location: str) -> RemoteRpn:
    """Open an ``.rpn`` file at a URL (or local path) and read its header; layers are read
    on demand. Raises :class:`~rpncodec.errors.RpncodecError` subclasses on bad input."""
    return RemoteRpn(source_for(location))


__all__ = ["PROBE", "FileSource", "FsspecSource", "HttpSource", "Read", "RemoteRpn", "is_url",
           "open", "source_for"]
