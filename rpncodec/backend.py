"""Which implementation runs a model's networks: ONNX Runtime (``onnx``) or PyTorch (``torch``).

Both give the codec (:mod:`rpncodec.codec`) the same small interface, :class:`Coder`, and
write and read the same files: the entropy coding is one shared numpy module, and everything
an entropy table depends on is computed in float64 by both (``rpncodec.latent_codecs.base``,
"Precision"). ``onnx`` is the default where ONNX Runtime is installed: it needs no torch, so a
command starts in a fraction of the time. ``torch`` is needed for training, and for ``cuda``.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING, Protocol

from .errors import ModelError

if TYPE_CHECKING:
    import numpy as np

    from .models.config import ModelConfig

BACKENDS = ("onnx", "torch")


class Coder(Protocol):
    """A model the codec can tile, code and decode, with the identity a header records."""

    name: str
    digest: bytes  # first 8 bytes of the weights file's sha256
    backend: str

    @property
    def config(self) -> ModelConfig: ...

    @property
    def pad_multiple(self) -> int: ...

    def encode_tile(self, tile: np.ndarray, refine: int = 0) -> list[bytes]:
        """One byte string per layer for one padded uint8 tile ``[H, W, 3]``, after
        ``refine`` steps of encoder-side latent refinement (torch only)."""
        ...

    def decode_tile(self, strings: list[bytes], height: int, width: int) -> np.ndarray:
        """A tile of ``height x width`` coded pixels from its first layer strings: a padded
        uint8 image, at the decoded layer's scale."""
        ...


def default_backend(device: str | None = None) -> str:
    """``onnx`` when ONNX Runtime is installed and the device is the CPU, else ``torch``."""
    on_cpu = device in (None, "cpu")
    return "onnx" if on_cpu and find_spec("onnxruntime") is not None else "torch"


def open_model(name_or_path: str | None = None, backend: str | None = None,
               device: str | None = None, threads: int | None = None) -> Coder:
    """A model (shipped name, ``.pt`` file, or for ``onnx`` an export folder) on ``backend``
    (default :func:`default_backend`) and ``device`` (torch only); ``threads`` sets the
    network threads (torch: process-wide; default: the runtime's choice)."""
    backend = backend or default_backend(device)
    if backend == "onnx":
        if device not in (None, "cpu"):
            raise ModelError(f"the onnx backend runs on the CPU; use --backend torch for "
                             f"--device {device}")
        if find_spec("onnxruntime") is None:
            raise ModelError("--backend onnx needs ONNX Runtime: pip install onnxruntime")
        from .runtime.store import load_runtime

        return load_runtime(name_or_path, threads)
    if backend == "torch":
        if find_spec("torch") is None:
            raise ModelError("--backend torch needs PyTorch: pip install 'rpncodec[train]'")
        import torch

        from .zoo import load_model

        if threads:
            torch.set_num_threads(threads)
        return load_model(name_or_path, device)
    raise ModelError(f"unknown backend {backend!r} (use {' or '.join(BACKENDS)})")
