"""Exception types of rpncodec.

Every failure caused by bad input (a damaged file, an unreadable image, a wrong argument)
raises a subclass of :class:`RpncodecError`. The CLI turns these into one line on stderr and a
non-zero exit; library users catch them by type.
"""

from collections.abc import Iterator
from contextlib import contextmanager


class RpncodecError(Exception):
    """Base class of every error rpncodec reports to a user."""


class InputImageError(RpncodecError):
    """The input is not an image we can read (missing, not an image, truncated, unsupported)."""


class BitstreamError(RpncodecError):
    """An .rpn file is not valid: wrong magic, unknown version, damaged header or chunk.

    ``layer`` is the 1-based layer whose payload failed to decode, when the error was raised
    inside one (:func:`in_layer`); the codec then names it, as it names a layer whose CRC fails.
    """

    layer: int | None = None


class TruncatedError(BitstreamError):
    """An .rpn file ends before the requested layers are complete."""


class ModelError(RpncodecError):
    """A model name is unknown, a weights file is missing, or its checksum does not match."""


class OutputError(RpncodecError):
    """An output cannot be written (missing folder, would overwrite the input, ...)."""


@contextmanager
def in_layer(layer: int) -> Iterator[None]:
    """Tag a :class:`BitstreamError` raised inside with the 1-based ``layer`` being decoded
    (the innermost tag wins), so the codec can say which layer is damaged."""
    try:
        yield
    except BitstreamError as exc:
        if exc.layer is None:
            exc.layer = layer
        raise


class PartialDecodeWarning(UserWarning):
    """A file decoded with fewer layers than it declares, because it is truncated or a layer
    is damaged (``rpncodec.decode`` without ``layers``; ``strict=True`` raises instead)."""
