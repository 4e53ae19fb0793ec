"""The Python interface: ``encode``, ``decode``, ``info`` and ``open``.

These are what ``import rpncodec`` offers (``rpncodec.encode`` is ``encode``), and what the
command line runs: ``rpncodec encode``, ``decode`` and ``info`` give the same bytes and pixels.
They are thin layers over ``rpncodec.codec`` (tiling and layer coding),
``rpncodec.backend`` (which runtime runs the networks), ``rpncodec.imageio`` (reading
images as 8-bit RGB) and ``rpncodec.remote`` (reading only the layers asked for).

Importing this module is cheap: numpy, Pillow and the networks are imported by the functions
that use them, so ``import rpncodec`` adds about 2 ms to a command-line start. Decoding
needs no torch: the default backend is ONNX Runtime.

Every failure caused by the input raises a subclass of ``rpncodec.errors.RpncodecError``
(catch that to handle them all); the docstrings name the subclasses.

Example:
    >>> import rpncodec
    >>> data = rpncodec.encode("photo.png")                 # all layers, default model
    >>> rpncodec.decode(data, layers=2).save("layer2.png")  # a PIL image
    >>> [layer.bytes for layer in rpncodec.info(data).layers]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

from . import bitstream
from .errors import InputImageError, RpncodecError

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from .backend import Coder
    from .codec import Decoded
    from .remote import RemoteRpn

__all__ = ["ImageInput", "LayerInfo", "ModelInput", "RpnInfo", "RpnInput", "decode",
           "decode_rpn", "encode", "info", "layers_for_width", "load_encoder", "open",
           "partial_note", "read_rpn"]

ImageInput = Union[str, os.PathLike, "Image.Image", "np.ndarray"]
"""What ``encode`` accepts: an image file's path, a PIL image, or a uint8 ``(H, W, 3)``
RGB array."""

RpnInput = Union[bytes, bytearray, memoryview, str, os.PathLike, "RemoteRpn"]
"""What ``decode`` and ``info`` accept: the bytes of an ``.rpn`` file, its path, its
URL (``http(s)://`` or any fsspec URL such as ``s3://``), or a file opened with ``open``."""

ModelInput = Union[str, os.PathLike, "Coder", None]
"""A model: a shipped model's name, a weights file or ONNX export folder, or a model opened
with ``rpncodec.backend.open_model``; None for the default."""

MAX_RPN_BYTES = 2**31  # no .rpn file rpncodec writes is larger
AUTO = "auto"  # the model name that picks, per image, the candidate that codes it best


# ---------------------------------------------------------------------------------------------
# encoding


def load_encoder(model: ModelInput = None, mode: str | None = None, backend: str | None = None,
                 device: str | None = None, refine: int = 0) -> Coder:
    """The model ``encode`` uses: ``model``, else the shipped default of ``mode``.

    ``refine`` > 0 needs the torch backend, which is then the default. A model of another
    mode than ``mode`` is refused.

    Raises:
        ModelError: unknown model or backend, missing or altered weights, unusable device.
        RpncodecError: ``model`` is not a model of ``mode``.
    """
    from .backend import open_model
    from .registry import default_model

    if model is not None and not isinstance(model, (str, os.PathLike)):
        loaded = model
    else:
        name = os.fspath(model) if model is not None else (mode and default_model(mode))
        loaded = open_model(name, backend or ("torch" if refine else None), device)
    if mode and loaded.config.mode != mode:
        raise RpncodecError(f"--mode {mode} but {loaded.name} is a {loaded.config.mode} model")
    return loaded


def _rgb_array(image: ImageInput) -> np.ndarray:
    """``image`` as a uint8 ``(H, W, 3)`` array (see ``encode``)."""
    import numpy as np
    from PIL import Image

    from .imageio import load_image, to_rgb

    if isinstance(image, (str, os.PathLike)):
        return load_image(image)
    if isinstance(image, Image.Image):
        return to_rgb(image, getattr(image, "filename", "") or "image")
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InputImageError(f"expected a uint8 (height, width, 3) RGB array, got "
                                  f"{image.dtype} {image.shape}")
        return np.ascontiguousarray(image)
    raise TypeError(f"image must be a path, a PIL image or a numpy array, not "
                    f"{type(image).__name__}")


def encode(image: ImageInput, *, model: ModelInput = None, mode: str | None = None,
           layers: int | None = None, tile: int = bitstream.DEFAULT_TILE, refine: int = 0,
           backend: str | None = None, device: str | None = None,
           exact_colours: bool = True, residual_layers: bool = True,
           extra_layers: Sequence[int] = ()) -> bytes:
    """Encode an image into the bytes of one ``.rpn`` file (what ``rpncodec encode`` writes).

    Args:
        image: an image file's path (anything Pillow reads; EXIF orientation applied), a PIL
            image (any mode, converted to RGB; its pixels as they are, without EXIF rotation),
            or a uint8 RGB array of shape ``(H, W, 3)``.
            Alpha, 16-bit samples and extra frames are dropped with an
            ``rpncodec.imageio.ImageWarning``.
        model: a shipped model's name (``rpncodec models`` lists them), an exported ``.pt``
            weights file, an ONNX export folder, or a model already opened with
            ``rpncodec.backend.open_model`` (fastest when encoding many images), or
            ``"auto"``: code the image with every candidate model of ``mode`` (a photograph
            and a screen-content model) and keep the file whose layers code it best,
            for one encode and one decode per candidate (``rpncodec.auto``).
            Default: the shipped default model of ``mode``.
        mode: ``"quality"`` (layers add quality; the default), ``"spatial"`` (layers decode
            at 1/4, 1/2 and full resolution) or ``"spatial-quality"`` (1/4, 1/2, full, then
            better full-resolution layers). Picks that mode's shipped model when ``model`` is
            not given.
        layers: keep only the first ``layers`` layers (default: all the model has). The
            result is the same as truncating the full file.
        tile: tile side in pixels, a multiple of 64 up to 2048. Larger images are coded as
            independent tiles, which bounds the encoder's memory.
        refine: steps of encoder-side latent refinement (0: off; 30 is a good choice):
            smaller, better files for the same decoder, about a minute per 768x512 image.
            Needs torch.
        backend: ``"onnx"`` (ONNX Runtime, the default where installed; no torch) or
            ``"torch"`` (the default with ``refine``). Both write the same files.
        device: where the torch backend runs the networks: ``"cpu"`` (default), ``"cuda"``
            or ``"cuda:N"``.
        exact_colours: let the encoder add the image's exact colours where they pay at every
            layer (format version 4; ``rpncodec.exact_colours``), and then colour
            corrections where they pay (version 5; ``rpncodec.colour_corrections``). False:
            the learned layers alone, always a version-3 file.
        residual_layers: let the encoder replace the top learned layers by residual layers
            where each shows a higher PSNR at no more bytes (version 6;
            ``rpncodec.residual_layers``: text, screenshots, charts). False: never.
        extra_layers: the steps (1-255) of residual layers to add above the model's top
            layer, each within step // 2 of the image in every pixel and channel: ``(1,)``
            adds a lossless top layer, ``(8, 1)`` a near-lossless one and then a lossless
            one. Default: none.

    Returns:
        The ``.rpn`` file's bytes.

    Raises:
        InputImageError: ``image`` cannot be read, or is not a uint8 ``(H, W, 3)`` array.
        ModelError: unknown model, backend or device; missing or altered weights; an image
            or tile size outside the format's limits.
        RpncodecError: ``model`` is not of ``mode``, or ``layers`` is outside 1 to the
            model's layer count.
        TypeError: ``image`` is not a path, PIL image or array.
    """
    pixels = _rgb_array(image)
    data, _ = encode_pixels(pixels, model, mode, tile, refine, backend, device, exact_colours,
                            residual_layers, extra_layers)
    return data if layers is None else bitstream.truncate(data, layers)


def encode_pixels(pixels: np.ndarray, model: ModelInput = None, mode: str | None = None,
                  tile: int = bitstream.DEFAULT_TILE, refine: int = 0,
                  backend: str | None = None, device: str | None = None,
                  exact_colours: bool = True, residual_layers: bool = True,
                  extra_layers: Sequence[int] = ()) -> tuple[bytes, Coder]:
    """A uint8 RGB array's ``.rpn`` bytes and the model that wrote them (see ``encode``).

    ``model="auto"`` codes the image with every candidate model of ``mode`` (default
    quality) and keeps the file whose layers code it best (``rpncodec.auto``).
    """
    from . import codec

    if model == AUTO:
        from .auto import candidates, choose

        coders = [load_encoder(name, mode, backend, device, refine)
                  for name in candidates(mode or "quality")]
        chosen = choose(pixels, coders,
                        lambda img, c: codec.encode(img, c, tile, refine, exact_colours,
                                                    residual_layers))
        # above whichever file won
        return codec.add_extra_layers(chosen.data, pixels, chosen.coder, extra_layers), \
            chosen.coder
    loaded = load_encoder(model, mode, backend, device, refine)
    return codec.encode(pixels, loaded, tile, refine, exact_colours, residual_layers,
                        extra_layers), loaded


# ---------------------------------------------------------------------------------------------
# reading .rpn files


def read_rpn(path: str | os.PathLike) -> bytes:
    """The bytes of a local ``.rpn`` file.

    Raises:
        InputImageError: the path is missing, a folder, unreadable, or larger than any
            ``.rpn`` file rpncodec writes (2 GiB).
    """
    p = Path(path)
    if p.is_dir():
        raise InputImageError(f"{path} is a directory, not an .rpn file")
    try:
        if p.stat().st_size > MAX_RPN_BYTES:
            raise InputImageError(f"{path} is larger than any .rpn file rpncodec writes")
        return p.read_bytes()
    except FileNotFoundError:
        raise InputImageError(f"{path} does not exist") from None
    except OSError as exc:
        raise InputImageError(f"cannot read {path}: {exc.strerror}") from None


def _source(source: RpnInput) -> bytes | RemoteRpn:
    """Bytes for a byte string or a local path; a ``RemoteRpn`` for a URL or one."""
    from .remote import RemoteRpn, is_url

    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, RemoteRpn):
        return source
    if isinstance(source, (str, os.PathLike)):
        location = os.fspath(source)
        return open(location) if is_url(location) else read_rpn(location)
    raise TypeError(f"expected .rpn bytes, a path or a URL, not {type(source).__name__}")


def layers_for_width(header: bitstream.Header, width: int, layers: int | None = None) -> int:
    """The layer count that decodes the image at least ``width`` pixels wide: the smallest
    resolution that wide among the file's layers (the full size when none is), with every
    layer of that resolution, as JPEG 2000's ``reduce`` keeps all quality layers. With
    ``layers``, at most that many: the last layer of that resolution within the first
    ``layers`` (a spatial-quality file's width 768 and layers 4 give layer 4 of 5).

    Raises:
        RpncodecError: the file's layers are all one size, ``width`` is below 1, or the first
            ``layers`` layers hold none of that resolution.
    """
    if not header.multi_resolution:
        raise RpncodecError(f"width applies to files with layers at several resolutions; this "
                            f"is a {header.mode} file (give layers 1 to {header.layers})")
    if width < 1:
        raise RpncodecError(f"width must be at least 1 pixel, not {width}")
    sizes = [bitstream.layer_size(header, k)[0] for k in range(1, header.layers + 1)]
    wide = next((w for w in sizes if w >= width), sizes[-1])
    first = sizes.index(wide) + 1
    last = header.last_layer_at(header.shifts[first - 1])
    if layers is None:
        return last
    if layers < first:
        raise RpncodecError(f"{width} pixels wide needs at least {first} layers "
                            f"(layer {first} is the first {wide} wide), not {layers}")
    return min(last, layers)


def partial_note(decoded: Decoded) -> str | None:
    """Why a decode of every layer (no layer count asked for) used fewer layers than its file
    declares: the file is truncated or damaged. None when it used them all."""
    if decoded.layers == decoded.declared:
        return None
    c = decoded.container
    why = "file is truncated" if c.truncated else f"layer {c.damaged} is damaged ({c.damage})"
    return f"{why}: decoded {decoded.layers} of {decoded.declared} layers"


def decode_rpn(source: RpnInput, *, layers: int | None = None, width: int | None = None,
               model: ModelInput = None, backend: str | None = None, device: str | None = None,
               strict: bool = False, max_pixels: int | None = None) -> Decoded:
    """``decode``, returning the codec's ``rpncodec.codec.Decoded`` (the pixels as
    a numpy array, the layers used and declared, the parsed container) and never warning:
    ``partial_note`` says what ``decode`` would warn about. Arguments and errors are
    ``decode``'s."""
    from . import codec

    data = _source(source)
    if width is not None or (layers is None and strict):  # the layer count from the header
        header = bitstream.parse(data).header if isinstance(data, bytes) else data.header
        layers = header.layers if width is None else layers_for_width(header, width, layers)
    weights = os.fspath(model) if isinstance(model, os.PathLike) else model
    if isinstance(data, bytes):
        return codec.decode(data, layers, weights, device, backend, max_pixels)
    return data.decode(layers, weights, device, backend, max_pixels)


def decode(source: RpnInput, *, layers: int | None = None, width: int | None = None,
           backend: str | None = None, model: ModelInput = None, device: str | None = None,
           strict: bool = False, max_pixels: int | None = None) -> Image.Image:
    """Decode the first layers of an ``.rpn`` file to an RGB PIL image (what
    ``rpncodec decode`` writes).

    Only the bytes of the layers decoded are read from a URL. Each layer decodes at the size
    its file's header gives it (``info``): a quality file's at full size, a spatial file's at
    1/4, 1/2 and full size, a spatial-quality file's at 1/4, 1/2, then full size in every
    further layer (rounding up).

    Args:
        source: the file's bytes, its path, its URL (``http(s)://``, ``s3://``, ...) or a
            file opened with ``open``.
        layers: how many layers to decode, 1 to the declared count. Default: every layer,
            or with a damaged or truncated file every intact layer, with a
            ``rpncodec.errors.PartialDecodeWarning`` (unless ``strict``).
        width: files with layers at several resolutions (spatial, spatial-quality): decode
            the smallest resolution at least this many pixels wide (the full size if none
            is), with every layer of that resolution, or with ``layers`` those among the
            first ``layers`` (``layers_for_width``).
        backend: ``"onnx"`` (ONNX Runtime, the default where installed; no torch) or
            ``"torch"``. Both decode the same pixels.
        model: weights to decode with (an exported ``.pt`` file, an ONNX export folder or an
            opened model); default: the shipped model the file names.
        device: where the torch backend runs: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"``.
        strict: when neither ``layers`` nor ``width`` is given, refuse a damaged or
            truncated file (raise) instead of decoding its intact layers.
        max_pixels: decompression limit on the size the header declares, checked before
            anything else is read or decoded: above it a
            ``rpncodec.limits.DecompressionBombWarning``, above twice it a
            ``rpncodec.limits.DecompressionBombError``. None (default):
            ``rpncodec.limits.MAX_IMAGE_PIXELS`` (Pillow's value); 0: no limit.

    Returns:
        The decoded image, mode ``"RGB"``.

    Raises:
        BitstreamError: not an ``.rpn`` file, a damaged header, or a damaged layer among
            those asked for (or any damaged layer with ``strict``).
        TruncatedError: the file ends before the layers asked for (or before its last
            declared layer with ``strict``).
        DecompressionBombError: the header declares more than twice ``max_pixels``.
        InputImageError: the path or URL cannot be read.
        ModelError: the file's model is not shipped and ``model`` is not given, the weights
            do not match the file, or an unknown backend or device.
        RpncodecError: ``layers`` outside 1 to the declared count, ``width`` with a file
            whose layers are all one size, or ``layers`` too few for ``width``.
        TypeError: ``source`` is neither bytes, a path, a URL nor an opened file.
    """
    import warnings

    from PIL import Image

    from .errors import PartialDecodeWarning

    decoded = decode_rpn(source, layers=layers, width=width, model=model, backend=backend,
                         device=device, strict=strict, max_pixels=max_pixels)
    note = partial_note(decoded) if layers is None and width is None else None
    if note:
        warnings.warn(note, PartialDecodeWarning, stacklevel=2)
    return Image.fromarray(decoded.image, "RGB")


# ---------------------------------------------------------------------------------------------
# what a file holds


@dataclass(frozen=True)
class LayerInfo:
    """Layer ``layer`` of a file: its chunk's byte range and the size it decodes to."""

    layer: int
    """1-based layer number."""
    start: int
    """Offset of the layer's chunk (length and CRC fields, then payload) in the file."""
    end: int
    """Offset just past the chunk: the bytes a decoder of this many layers needs."""
    width: int
    """Width it decodes to (spatial layers below the top are smaller)."""
    height: int
    """Height it decodes to."""

    @property
    def bytes(self) -> int:
        """Size of this layer's chunk alone."""
        return self.end - self.start

    @property
    def bpp(self) -> float:
        """Bits per pixel of decoding up to this layer: ``8 * end`` over its own pixels."""
        return 8 * self.end / (self.width * self.height)


@dataclass(frozen=True)
class RpnInfo:
    """What an ``.rpn`` file holds, from its header and layer chunks (``info``)."""

    model: str
    """Name of the model that encoded it."""
    digest: str
    """First 8 bytes of the weights file's sha256, in hex."""
    mode: str
    """``"quality"``, ``"spatial"`` or ``"single"``."""
    width: int
    """Full image width."""
    height: int
    """Full image height."""
    tile: int
    """Tile side the image was coded in."""
    declared: int
    """Layers the header declares."""
    layers: tuple[LayerInfo, ...]
    """The layers present, in order: the intact prefix (or, for a URL, the layers whose
    length fields were read, payloads unchecked)."""
    size: int | None
    """Bytes of the file, when read whole (None for a URL)."""
    damaged: int | None = None
    """The first damaged layer (CRC mismatch or impossible length), or None."""
    damage: str | None = None
    """What is wrong with layer ``damaged``."""
    truncated: bool = False
    """Whether the file ends before its last declared layer."""
    verified: bool = True
    """Whether every present layer's payload was read and its CRC checked (False for a URL,
    where only the header and length fields are read)."""
    exact_colours: int = 0
    """Colours the decoder snaps to (format version 4, :mod:`rpncodec.exact_colours`); 0:
    none."""
    corrected_layers: tuple[int, ...] = ()
    """Layers that carry colour corrections (format version 5,
    :mod:`rpncodec.colour_corrections`)."""
    version: int = bitstream.FORMAT_VERSION
    """The format version the header declares."""
    residual_steps: tuple[int, ...] = ()
    """Per layer its residual step (format version 6, :mod:`rpncodec.residual_layers`): 0 for
    a learned layer; empty when every layer is learned."""

    @property
    def available(self) -> int:
        """How many layers are present (decodable, when ``verified``)."""
        return len(self.layers)


def info(source: RpnInput) -> RpnInfo:
    """Describe an ``.rpn`` file without decoding it (what ``rpncodec info`` prints).

    For bytes and local paths the whole file is parsed and every layer's CRC checked; for a
    URL only the header and the 8-byte length field of each layer are read, so no payload is
    downloaded and none is checked (``RpnInfo.verified`` is False).

    Args:
        source: the file's bytes, its path, its URL, or a file opened with ``open``.

    Returns:
        The header's fields and each present layer's byte range and decoded size. A damaged
        or truncated file is described, not refused: see ``RpnInfo.damaged`` and
        ``RpnInfo.truncated``.

    Raises:
        BitstreamError: not an ``.rpn`` file, or its header is damaged.
        TruncatedError: the file ends inside its header.
        InputImageError: the path or URL cannot be read.
        TypeError: ``source`` is neither bytes, a path, a URL nor an opened file.
    """
    data = _source(source)
    if isinstance(data, bytes):
        c = bitstream.parse(data)
        header, ranges, size = c.header, c.byte_ranges, len(data)
        faults = {"damaged": c.damaged, "damage": c.damage, "truncated": c.truncated}
    else:
        header, ranges, size = data.header, data.layout(), None
        faults = {"truncated": len(ranges) < data.header.layers, "verified": False}
    layers = tuple(LayerInfo(k, start, end, *bitstream.layer_size(header, k))
                   for k, (start, end) in enumerate(ranges, 1))
    return RpnInfo(header.model, header.digest.hex(), header.mode, header.width, header.height,
                   header.tile, header.layers, layers, size, **faults,
                   exact_colours=len(header.palette) // 3,
                   corrected_layers=tuple(k for k in range(1, header.layers + 1)
                                          if header.is_corrected(k)),
                   version=header.version, residual_steps=header.steps)


def open(location: str | os.PathLike) -> RemoteRpn:
    """Open an ``.rpn`` file at a URL or path: its header is read at once, its layers when
    asked for (``rpncodec.remote.RemoteRpn``).

    Decoding layer k of the result reads only the first k layers' bytes, in one ranged read
    per layer: ``rpncodec.decode(rpncodec.open(url), layers=1)``.

    Args:
        location: ``http://`` or ``https://`` (ranged GET requests), any other fsspec URL
            (``s3://``, ``file://``, ``memory://``, ...; needs fsspec), or a local path.

    Returns:
        The opened file; its ``header`` is the parsed ``rpncodec.bitstream.Header``.

    Raises:
        InputImageError: the location cannot be read.
        BitstreamError: not an ``.rpn`` file, or its header is damaged.
        TruncatedError: the file ends inside its header.
    """
    from .remote import open as open_remote

    return open_remote(os.fspath(location))
