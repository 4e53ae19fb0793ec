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

import torch

from .errors import ModelError
from .models import ModelConfig, ScalableModel, build_model

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class ModelEntry:
    """One shipped model."""

    name: str
    file: str
    sha256: str
    mode: str
    layers: int
    description: str
    default: bool = False


REGISTRY: dict[str, ModelEntry] = {
    e.name: e for e in [
        ModelEntry("rpn-quality-cond", "rpn-quality-cond.pt",
                   "1d781a098710f7e03e13dc9c194dc380f17ac6fc3d342254c9f84d12651b68f3", "quality", 4,
                   "quality mode: rpn-quality-cpu with a hyperprior at level 1 and conditional "
                   "Gaussian codecs at levels 2-4, then a joint CPU fine-tune (README, Beyond "
                   "the paper)",
                   default=True),
        ModelEntry("rpn-spatial-cond", "rpn-spatial-cond.pt",
                   "437c11d074cb99a52cc8469f1a3e2d9744f6d427c5eea6a479f25a69e60eb827", "spatial", 3,
                   "spatial mode: rpn-spatial-cpu with conditional Gaussian codecs at levels 2-3 "
                   "(README, Beyond the paper)"),
        ModelEntry("rpn-quality-cpu", "rpn-quality-cpu.pt",
                   "b0735007eb288ccb108293e36c58fe34a8592d6349dd274b978cfb2ffab1ce49", "quality", 4,
                   "quality mode, CPU preset (64/64/64/64), the paper's factorized entropy "
                   "model: progressive CPU training, then a guided joint fine-tune on a GPU "
                   "(README, Training)"),
        ModelEntry("rpn-spatial-cpu", "rpn-spatial-cpu.pt",
                   "74d125f364169c81a40a39070d3268ed38148461a314e1839f81373d21996649", "spatial", 3,
                   "spatial mode, CPU preset (64/64/64): 1/4, 1/2, full resolution; levels "
                   "warm-started from rpn-single-cpu-l500/l240/l120 (README)"),
        ModelEntry("rpn-single-cpu-l500", "rpn-single-cpu-l500.pt",
                   "47b7a0ce10717ee48814ab45de4f1fd237f6f332909f608df1728ce254d401c5", "single", 1,
                   "single layer, CPU preset (64), lambda 500: simulcast member"),
        ModelEntry("rpn-single-cpu-l240", "rpn-single-cpu-l240.pt",
                   "902b29d94d0273b0944ad620746609a0f7e7742e44cefd21536131ecc6fdd83f", "single", 1,
                   "single layer, CPU preset (64), lambda 240: simulcast member"),
        ModelEntry("rpn-single-cpu-l120", "rpn-single-cpu-l120.pt",
                   "20c3cfaf0c609535c0c5e86d97943b689c5fbb31364bed6c0b7e3c259351869c", "single", 1,
                   "single layer, CPU preset (64), lambda 120: simulcast member"),
        ModelEntry("rpn-single-cpu-l45", "rpn-single-cpu-l45.pt",
                   "c53c7f8e9e2b0aba9f27f63d04bad0fa8f7f5eeb9415cb206d6baf5f1287962e", "single", 1,
                   "single layer, CPU preset (64), lambda 45: simulcast member"),
        ModelEntry("rpn-single-cpu-l20", "rpn-single-cpu-l20.pt",
                   "00b1b4b04c4115effb581a57de1f97e033447f13bbd49aff0475d6169d2c7cb7", "single", 1,
                   "single layer, CPU preset (64), lambda 20: reference for the quality top layer"),
    ]
}


def default_model(mode: str | None = None) -> str:
    """The default model, or the first shipped model of ``mode`` (quality, spatial)."""
    if mode is None:
        return next(e.name for e in REGISTRY.values() if e.default)
    try:
        return next(e.name for e in REGISTRY.values() if e.mode == mode)
    except StopIteration:
        raise ModelError(f"no shipped model for {mode} mode") from None


@dataclass
class LoadedModel:
    """A model ready for coding (eval mode, tables built) with the identity the header stores."""

    name: str
    digest: bytes  # first 8 bytes of the weights file's sha256
    model: ScalableModel

    @property
    def config(self) -> ModelConfig:
        return self.model.config

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
        name = _safe_name(path.stem)
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
    return LoadedModel(name, bytes.fromhex(digest[:16]), model.to(dev))


def _safe_name(stem: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem)[:64]
    return cleaned or "custom"
