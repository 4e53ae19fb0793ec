"""rpncodec: a scalable learned image codec (reciprocal pyramid network, arXiv 2306.08941)."""

__version__ = "0.1.0"


def open(location: str):  # rpncodec.open(url), like PIL.Image.open
    """Open an ``.rpn`` file at a URL (``http(s)://``, any fsspec filesystem) or a path; its
    header is read at once and its layers on demand (:func:`rpncodec.remote.open`)."""
    from .remote import open as open_remote

    return open_remote(location)
