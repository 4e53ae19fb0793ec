"""Shipped weights: model name -> file, sha256 and what it is; loading by name or by path.

A weights file is ``{"config": ModelConfig dict, "state_dict": tensors}`` written by
:func:`rpncodec.training.export.export` (fp16 floats, int32 entropy tables) and read with
``torch.load(weights_only=True)``. Its sha256 is checked against the registry before loading.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import ModelError
from .models import ModelConfig, ScalableModel, build_model
from .models.refine import refine_latents
from .registry import REGISTRY, WEIGHTS_DIR, ModelEntry, default_model, safe_name
from .tensors import to_image, to_tensor

__all__ = ["REGISTRY", "WEIGHTS_DIR", "LoadedModel", "ModelEntry", "default_model",
           "load_model", "resolve_device"]

@dataclass
class LoadedModel:
    """A model ready for coding (eval mode, tables built) with the identity the header stores."""

    name: str
    digest: bytes  # first 8 bytes of the weights file's sha256
    model: ScalableModel
    sha256: str = ""  # the whole hex digest (what an ONNX export records)
    backend = "torch"

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def pad_multiple(self) -> int:
        return self.model.pad_multiple

    def encode_tile(self, tile: np.ndarray, refine: int = 0) -> list[bytes]:
        """One byte string per layer for one padded uint8 tile ``[H, W, 3]``: the one place
        the codec calls a torch model's ``compress`` (which skips its reconstruction), after
        ``refine`` steps of latent refinement (:mod:`rpncodec.models.refine`) when given."""
        x = to_tensor(tile).to(self.device)
        latents = refine_latents(self.model, x, refine) if refine else None
        with torch.inference_mode():
            return self.model.compress(x, reconstruct=False, latents=latents)[0]

    def decode_tile(self, strings: list[bytes], height: int, width: int) -> np.ndarray:
        """One tile of ``height x width`` coded pixels from its first layer strings, as a
        padded uint8 image (at the layer's scale)."""
        with torch.inference_mode():
            x = self.model.decompress(strings, self.model.latent_size(height, width),
                                      len(strings))
        return to_image(x)

    @property
    def device(self) -> torch.device:
        """Where the network runs (entropy coding always runs on the CPU)."""
        return next(self.model.parameters()).device


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``; None means the CPU), checked usable.

    Choosing CUDA also makes cuDNN deterministic and turns TF32 off (process-wide), so that
    decoding on the GPU that encoded gives bit-exact results. Decoding on another kind of
    device than the encoder used may differ in the predictions' last bits: the entropy decoder
    stays in sync (its tables do not depend on the predictions) but pixels may differ slightly,
    so a bit-exact decode is only guaranteed on the device type (and software) that encoded.
    """
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ModelError(f"unknown device {device!r} (use cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(f"device {device!r} requested, but CUDA is not available "
                             f"(torch {torch.__version__}, no usable GPU); use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelError(f"device {device!r} requested, but only "
                             f"{torch.cuda.device_count()} CUDA device(s) exist")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    elif dev.type != "cpu":
        raise ModelError(f"unsupported device {device!r} (use cpu, cuda or cuda:N)")
    return dev


def _read(path: Path, expected: str | None) -> tuple[bytes, str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        wanted = f" (expected sha256 {expected})" if expected else ""
        raise ModelError(f"weights file {path} is missing{wanted}") from None
    except OSError as exc:
        raise ModelError(f"cannot read weights file {path}: {exc.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    if expected is not None and digest != expected:
        raise ModelError(f"weights file {path} has sha256 {digest}, expected {expected} "
                         "(altered or incomplete file)")
    return data, digest


def load_model(name_or_path: str | None = None,
               device: str | torch.device | None = None) -> LoadedModel:
    """Load a shipped model by registry name, or an exported weights file by path, onto
    ``device`` (default: the CPU; see :func:`resolve_device`)."""
    dev = resolve_device(device)
    name_or_path = name_or_path or default_model()
    entry = REGISTRY.get(name_or_path)
    if entry is not None:
        path, name = WEIGHTS_DIR / entry.file, entry.name
        data, digest = _read(path, entry.sha256)
    else:
        path = Path(name_or_path)
        if not path.suffix == ".pt" and not path.exists():
            known = ", ".join(REGISTRY)
            raise ModelError(f"unknown model {name_or_path!r} (shipped: {known}; "
                             "or give the path of an exported .pt file)")
        data, digest = _read(path, None)
        name = safe_name(path.stem)
    try:
        blob = torch.load(io.BytesIO(data), weights_only=True)
        config = ModelConfig.from_dict(blob["config"])
        model = build_model(config)
        state = {k: v.float() if v.is_floating_point() else v
                 for k, v in blob["state_dict"].items()}
        model.load_state_dict(state)
    except Exception as exc:  # any malformed file is one clear error
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise ModelError(f"{path} is not a valid rpncodec weights file ({reason})") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return LoadedModel(name, bytes.fromhex(digest[:16]), model.to(dev), digest)
