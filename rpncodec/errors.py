"""Exception types of rpncodec.

Every failure caused by bad input (a damaged file, an unreadable image, a wrong argument)
raises a subclass of :class:`RpncodecError`. The CLI turns these into one line on stderr and a
non-zero exit; library users catch them by type.
"""


class RpncodecError(Exception):
    """Base class of every error rpncodec reports to a user."""


class InputImageError(RpncodecError):
    """The input is not an image we can read (missing, not an image, truncated, unsupported)."""


class BitstreamError(RpncodecError):
    """An .rpn file is not valid: wrong magic, unknown version, damaged header or chunk."""


class TruncatedError(BitstreamError):
    """An .rpn file ends before the requested layers are complete."""


class ModelError(RpncodecError):
    """A model name is unknown, a weights file is missing, or its checksum does not match."""


class OutputError(RpncodecError):
    """An output cannot be written (missing folder, would overwrite the input, ...)."""
