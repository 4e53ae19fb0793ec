"""Where a model's ONNX export lives, and loading it (torch-free).

Shipped defaults carry their export in the package (``rpncodec/weights/onnx/NAME``, checked
by sha256 like the ``.pt`` files), so the codec alone (``pip install .``) codes without
torch. Every other model (the other shipped ones, a trained ``.pt``) is exported once, with
torch, into the user cache (``$RPNCODEC_CACHE`` or ``~/.cache/rpncodec``) and loaded from
there afterwards: shipping every model's export would double the repository's weights
(about 43 MB) for models few users decode.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..models.config import ModelConfig
from ..registry import REGISTRY, WEIGHTS_DIR, default_model, safe_name
from .graph import Graphs
from .model import RuntimeModel

SHIPPED = WEIGHTS_DIR / "onnx"
MANIFEST = "manifest.json"
GRAPHS = "graphs.json"
# The export layout this runtime reads (rpncodec.onnx_export); 2: the coding networks as
# float64 graphs (graphs.json, docs/graphs.md)
EXPORT_FORMAT = 2


def cache_root() -> Path:
    """The folder exports built on first use go to."""
    root = os.environ.get("RPNCODEC_CACHE") or Path.home() / ".cache" / "rpncodec"
    return Path(root) / "onnx"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror}") from None


def read_checked(path: Path, sha256: str) -> bytes:
    """The bytes of an export's file, which must match the manifest's ``sha256``."""
    data = _read(path)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ModelError(f"{path} does not match its manifest (altered or incomplete "
                         "export); delete its folder to rebuild it")
    return data


def _manifest(folder: Path, sha256: str = "") -> dict | None:
    """The folder's manifest (None if unreadable); with ``sha256`` it must match it."""
    try:
        data = (folder / MANIFEST).read_bytes()
    except OSError:
        return None
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise ModelError(f"{folder / MANIFEST} is not the shipped one (sha256 differs; "
                         "altered or incomplete installation)")
    try:
        return json.loads(data)
    except ValueError:
        return None


def _cached(name: str, sha: str) -> Path:
    return cache_root() / f"{name}-{sha[:16]}"


def _export(name_or_path: str) -> tuple[Path, dict]:
    """A model's export folder and manifest: the folder given, the shipped export, the
    cached one, or (with torch) one built now into the cache."""
    path = Path(name_or_path)
    if name_or_path not in REGISTRY and path.is_dir():
        manifest = _manifest(path)
        if manifest is None:
            raise ModelError(f"{path} is not an ONNX export (no readable {MANIFEST})")
        if manifest.get("format") != EXPORT_FORMAT:
            raise ModelError(f"{path} is an ONNX export of format {manifest.get('format')}; "
                             f"this version reads format {EXPORT_FORMAT}: export it again")
        return path, manifest
    entry = REGISTRY.get(name_or_path)
    if entry is not None:
        name, sha, weights = entry.name, entry.sha256, WEIGHTS_DIR / entry.file
        if entry.onnx_manifest:  # the shipped export, pinned like the .pt
            manifest = _manifest(SHIPPED / name, entry.onnx_manifest)
            if manifest is not None:
                return SHIPPED / name, manifest
    elif path.exists():
        name, sha, weights = safe_name(path.stem), hashlib.sha256(_read(path)).hexdigest(), path
    else:
        raise ModelError(f"unknown model {name_or_path!r} (shipped: {', '.join(REGISTRY)}; "
                         "or give the path of an exported .pt file or ONNX export folder)")
    manifest = _manifest(_cached(name, sha))
    if (manifest is not None and manifest.get("weights_sha256") == sha
            and manifest.get("format") == EXPORT_FORMAT):
        return _cached(name, sha), manifest
    return _build(name, sha, weights)


def _build(name: str, sha: str, weights: Path) -> tuple[Path, dict]:
    """Export the weights file into the cache (needs torch and onnx)."""
    try:
        from ..onnx_export import export_onnx
        from ..zoo import load_model
    except ImportError:
        raise ModelError(f"{name} has no ONNX export here, and building one needs PyTorch "
                         "and onnx: pip install 'rpncodec[train]' once, or use a model that "
                         "ships one") from None
    loaded = load_model(name if name in REGISTRY else str(weights))
    try:
        folder = export_onnx(loaded, _cached(name, sha))
    except OSError as exc:
        raise ModelError(f"cannot write the ONNX export of {name} to {_cached(name, sha)} "
                         f"({exc.strerror}); set RPNCODEC_CACHE to a writable folder") from None
    print(f"rpncodec: exported {name} for ONNX Runtime (once) to {folder}", file=sys.stderr)
    manifest = _manifest(folder)
    assert manifest is not None  # export_onnx writes one
    return folder, manifest


def load_runtime(name_or_path: str | None = None, threads: int | None = None) -> RuntimeModel:
    """A model on the ONNX backend by shipped name, ``.pt`` path or export folder. Every
    file is checked against the manifest's sha256 when it is first read (a graph when its
    level first runs: decoding layer k reads one synthesis graph)."""
    folder, manifest = _export(name_or_path or default_model())
    blob = read_checked(folder / "arrays.bin", manifest["files"]["arrays.bin"])
    params = {key: np.frombuffer(blob, np.dtype(dtype), int(np.prod(shape)), offset).reshape(shape)
              for key, (dtype, shape, offset) in manifest["arrays"].items()}
    try:
        graphs = json.loads(read_checked(folder / GRAPHS, manifest["files"][GRAPHS]))["graphs"]
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{folder} has no readable {GRAPHS} (export it again)") from None
    config = ModelConfig.from_dict(manifest["config"])
    return RuntimeModel(manifest["model"], manifest["weights_sha256"], config, folder,
                        manifest["files"], params, Graphs(graphs, params), threads)
