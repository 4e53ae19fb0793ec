"""Pillow support for ``.rpn`` files: ``Image.open``, ``load`` of some layers, ``save``.

Registered by ``import rpncodec`` (``rpncodec.pillow_hook``), following Pillow's plugin
conventions: an ``PIL.ImageFile.ImageFile`` subclass found by the file's magic bytes
(``\\x89RPN``, whatever the file is called), a save handler, the extension ``.rpn`` and the
MIME type ``image/x-rpn``: the format has no IANA registration, and ``image/x-NAME`` is how
Pillow names its other unregistered formats (``image/x-tga``, ``image/x-pcx``).

Opening reads only the header: the image reports mode ``RGB`` and the full size, and Pillow
applies ``Image.MAX_IMAGE_PIXELS`` to that size as for any format. ``im.header`` is the parsed
header; ``im.info`` holds ``model`` (the encoder's name), ``rpn_mode`` (``quality``,
``spatial``, ``spatial-quality`` or ``single``) and ``rpn_layers`` (the declared layer count).
Before ``load()`` (which any pixel access triggers) the decode can be narrowed, as with
Pillow's JPEG 2000 plugin:

- ``im.layers = k`` decodes only the first k layers (0, the default, means all). Only their
  bytes are read from the file.
- ``im.reduce = r`` decodes a spatial or spatial-quality file at ``1/2**r`` of its size
  (its layers up to the last of that resolution); ``size`` changes on ``load()`` to the size
  decoded (which rounds up: a 4n+1 side halves to 2n+1). A quality file has no lower
  resolution and refuses ``reduce``.
- ``im.draft(None, (w, h))`` picks the smallest resolution at least ``w x h`` of such a file,
  and sets ``size`` at once (``Image.thumbnail`` calls it, so thumbnails decode only the
  layers they need).
- ``im.backend`` (``"onnx"`` or ``"torch"``) and ``im.model`` (a weights file, for files of
  a model rpncodec does not ship) choose the decoder, as for ``rpncodec.decode``.

A damaged or truncated file raises on ``load()`` (``rpncodec.errors.BitstreamError``,
``rpncodec.errors.TruncatedError``) unless ``ImageFile.LOAD_TRUNCATED_IMAGES`` is set,
in which case its intact layers are decoded with a
``rpncodec.errors.PartialDecodeWarning``: Pillow's rule for truncated images. A damaged
header raises at ``Image.open``.

``im.save("a.rpn", model=..., mode=..., layers=..., tile=..., refine=..., backend=...,
exact_colours=..., residual_layers=..., extra_layers=...)``
encodes with ``rpncodec.encode``'s arguments (other keywords are ignored, as Pillow's
plugins do). The decoded pixels are exactly ``rpncodec.decode``'s and ``rpncodec
decode``'s.
"""

from __future__ import annotations

import warnings
from typing import IO, TYPE_CHECKING

from PIL import Image, ImageFile

from . import bitstream
from .errors import PartialDecodeWarning
from .remote import RemoteRpn

if TYPE_CHECKING:
    from collections.abc import Callable

FORMAT = "RPN"
MIME = "image/x-rpn"
EXTENSIONS = [".rpn"]
SAVE_OPTIONS = ("model", "mode", "layers", "tile", "refine", "backend", "exact_colours",
                "residual_layers", "extra_layers")


def _accept(prefix: bytes) -> bool:
    return prefix.startswith(bitstream.MAGIC)


class _FileObjectSource:
    """A ``rpncodec.remote.Source`` over an open binary file: the plugin reads the
    header, then only the layers it decodes."""

    def __init__(self, fp: IO[bytes], location: str) -> None:
        self.fp = fp
        self.location = location

    def read(self, start: int, end: int) -> bytes:
        self.fp.seek(start)
        return self.fp.read(end - start)


class RpnImageFile(ImageFile.ImageFile):
    """An ``.rpn`` file opened by Pillow (see the module's description)."""

    format = FORMAT
    format_description = "rpncodec scalable learned image"

    def _open(self) -> None:
        assert self.fp is not None
        name = self.filename if isinstance(self.filename, str) and self.filename else "<file>"
        self.rpn = RemoteRpn(_FileObjectSource(self.fp, name))
        h: bitstream.Header = self.rpn.header
        self._mode = "RGB"
        self._size = (h.width, h.height)
        self.info.update(model=h.model, rpn_mode=h.mode, rpn_layers=h.layers)
        self.layers = 0
        self._reduce = 0
        self.backend: str | None = None
        self.model: str | None = None

    @property
    def header(self) -> bitstream.Header:
        """The file's parsed header (model, mode, size, declared layers)."""
        return self.rpn.header

    @property  # type: ignore[override]
    def reduce(self) -> Callable[..., Image.Image] | int:
        """The set reduction (an int) while one is set, else Pillow's ``Image.reduce``
        method: the same trick as Pillow's JPEG 2000 plugin, whose ``reduce`` property
        shadows the method."""
        return self._reduce or super().reduce

    @reduce.setter
    def reduce(self, value: int) -> None:
        self._reduce = value

    def _layers_wanted(self) -> int | None:
        """The layer count ``layers`` and ``reduce`` ask for (None: every layer)."""
        h = self.header
        k, r = self.layers, self._reduce
        if not isinstance(k, int) or not 0 <= k <= h.layers:
            raise ValueError(f"layers must be 0 (all) or 1 to {h.layers}, not {k!r}")
        if not r:
            return k or None
        if not h.multi_resolution:
            raise ValueError(f"reduce needs a .rpn file with layers at several resolutions; "
                             f"this one is {h.mode} (its layers are all one size: set layers "
                             "instead)")
        if not isinstance(r, int) or r not in h.shifts:
            raise ValueError(f"reduce must be 0 to {max(h.shifts)} for this file, not {r!r}")
        last = h.last_layer_at(r)  # with all its quality layers
        if k and h.shifts[k - 1] != r:
            raise ValueError(f"layers={k} and reduce={r} disagree: reduce={r} is layer "
                             f"{last} of {h.layers}")
        return k or last

    def draft(self, mode: str | None, size: tuple[int, int] | None
              ) -> tuple[str, tuple[int, int, float, float]] | None:
        """Configure a file with layers at several resolutions (spatial, spatial-quality) to
        decode at the smallest resolution that is at least ``size`` (``mode`` is ignored: the
        file decodes to RGB); None for a file whose layers are all one size, an image already
        loaded, or no ``size``."""
        h = self.header
        if not h.multi_resolution or self._im is not None or not size:
            return None
        ratio = min(h.width // max(size[0], 1), h.height // max(size[1], 1))
        r = max(s for s in h.shifts if s <= max(ratio, 1).bit_length() - 1)
        self._reduce, self.layers = r, 0
        self._size = bitstream.layer_size(h, h.last_layer_at(r))
        return self.mode, (0, 0, h.width / 2**r, h.height / 2**r)

    def load(self) -> Image.core.PixelAccess | None:
        """Decode (once) the layers asked for; see the module's description."""
        if self._im is None:
            self._decode()
        return Image.Image.load(self)

    def _decode(self) -> None:
        from .api import decode_rpn, partial_note

        layers = self._layers_wanted()
        strict = not ImageFile.LOAD_TRUNCATED_IMAGES
        # Pillow applied Image.MAX_IMAGE_PIXELS at open: rpncodec's own limit is not applied
        # twice (a user who raised Pillow's gets what Pillow allows)
        decoded = decode_rpn(self.rpn, layers=layers, model=self.model, backend=self.backend,
                             strict=strict, max_pixels=0)
        note = partial_note(decoded) if layers is None else None
        if note:
            warnings.warn(note, PartialDecodeWarning, stacklevel=3)
        self._install(decoded.image)

    def _install(self, pixels) -> None:
        """Install decoded pixels as the image, and close the file as Pillow's loaders do."""
        image = Image.fromarray(pixels, "RGB")
        self.im = image.im
        self._size = image.size
        self.tile = []
        if self._exclusive_fp and self._close_exclusive_fp_after_loading and self.fp:
            self.fp.close()
            self.fp = None

    def verify(self) -> None:
        """Check the whole file without decoding: every declared layer present and intact.

        Raises:
            BitstreamError: a layer is damaged.
            TruncatedError: the file ends before its last declared layer.
        """
        container = self.rpn.container()
        bitstream.select(container, self.header.layers)
        super().verify()


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    """Encode ``im`` with ``rpncodec.encode`` and the save keywords it takes; the whole
    file is encoded before anything is written."""
    from .api import encode

    options = {key: im.encoderinfo[key] for key in SAVE_OPTIONS if key in im.encoderinfo}
    fp.write(encode(im, **options))


def register() -> None:
    """Register the format with Pillow (open, save, extension, MIME type). Idempotent."""
    Image.register_open(FORMAT, RpnImageFile, _accept)
    Image.register_save(FORMAT, _save)
    Image.register_extensions(FORMAT, EXTENSIONS)
    Image.register_mime(FORMAT, MIME)


register()
