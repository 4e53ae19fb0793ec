"""Export a model for the torch-free runtime: ONNX graphs and numpy arrays (needs torch).

A model's export is a folder:

- ``analysis{k}.onnx``, ``synthesis{k}.onnx``: each level's float32 transforms, with dynamic
  height and width (input ``x``, output ``y``, opset :data:`OPSET`). Weights are stored as
  float16 with a Cast (every shipped weight is float16-exact, so this loses nothing and
  halves the files); ONNX Runtime folds the casts when it loads a graph.
- ``graphs.json``: the coding networks (predictions, scale heads, the hyperprior's
  transforms) as float64 graphs (:mod:`.graph_export`, docs/graphs.md), which the runtime
  interprets in numpy (:mod:`rpncodec.runtime.graph`): ONNX Runtime has no float64
  convolution.
- ``arrays.bin``: every other parameter and buffer (the graphs' parameters, latent codecs,
  integer entropy tables), float16 where exact, little-endian, concatenated; the manifest's
  ``arrays`` maps each key (a state-dict key, or a graph's constant) to its dtype, shape and
  byte offset (one read and zero-copy views: an ``.npz`` of the same 700 arrays took 0.14 s
  to open).
- ``manifest.json``: format, model name, the weights file's sha256, the model configuration,
  the opset, the array index, and the sha256 of every file above (checked at load).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from .files import write_folder
from .graph_export import export_graphs
from .layers.crcm import Up2
from .runtime.store import EXPORT_FORMAT, GRAPHS
from .zoo import LoadedModel

OPSET = 17
TRANSFORMS = ("analysis", "synthesis")


def _half_initializers(data: bytes) -> bytes:
    """The graph with every float16-exact float32 initializer stored as float16 + a Cast."""
    model = onnx.load_from_string(data)
    graph = model.graph
    casts = []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(init)
        half = values.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), values):
            continue
        graph.initializer.remove(init)
        graph.initializer.append(numpy_helper.from_array(half, init.name + "_fp16"))
        casts.append(helper.make_node("Cast", [init.name + "_fp16"], [init.name],
                                      to=TensorProto.FLOAT))
    for node in reversed(casts):
        graph.node.insert(0, node)
    return model.SerializeToString()


def _subpixel(net: nn.Module) -> nn.Module:
    """A copy of ``net`` with every stride-2 transposed conv as its sub-pixel equivalent (a
    3x3 conv with 4x the outputs, then a pixel shuffle; :class:`Up2`): ONNX Runtime's
    convolutions are faster than its transposed ones, and the result is the same up to float
    rounding (measured closer to torch's)."""
    net = copy.deepcopy(net)
    for module in list(net.modules()):
        for name, child in module.named_children():
            if isinstance(child, Up2) and child.kernel_size[0] in (3, 5):
                weight, bias = child.subpixel_params()
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
                with torch.no_grad():
                    conv.weight.copy_(weight)
                    conv.bias.copy_(bias)
                setattr(module, name, nn.Sequential(conv, nn.PixelShuffle(2)))
    return net


def _graph(net: nn.Module, example: torch.Tensor) -> bytes:
    """One transform as ONNX with dynamic height and width, traced in its plain (training-
    form) path: the inference shortcuts are torch-specific."""
    net = _subpixel(net)
    f = io.BytesIO()
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (example,), f, dynamo=False, input_names=["x"],
                          output_names=["y"], opset_version=OPSET,
                          dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "H", 3: "W"}})
    return _half_initializers(f.getvalue())


def _arrays(loaded: LoadedModel) -> dict[str, np.ndarray]:
    """Every state-dict entry outside the transforms, float16 where exact."""
    out = {}
    for key, value in loaded.model.state_dict().items():
        if any(f".{t}." in key for t in TRANSFORMS):
            continue
        a = value.detach().cpu().numpy()
        if a.dtype == np.float32 and np.array_equal(a.astype(np.float16).astype(np.float32), a):
            a = a.astype(np.float16)
        out[key] = a
    return out


def _pack(arrays: dict[str, np.ndarray]) -> tuple[bytes, dict[str, list]]:
    """The arrays concatenated (each aligned to 8 bytes) and their index:
    key -> [dtype, shape, offset]."""
    parts, index, offset = [], {}, 0
    for key, a in arrays.items():
        data = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
        index[key] = [a.dtype.newbyteorder("<").str, list(a.shape), offset]
        padded = data + b"\0" * (-len(data) % 8)
        parts.append(padded)
        offset += len(padded)
    return b"".join(parts), index


def export_onnx(loaded: LoadedModel, folder: str | Path) -> Path:
    """Write ``loaded``'s export to ``folder`` (replaced atomically if it exists)."""
    files: dict[str, bytes] = {}
    for k, level in enumerate(loaded.model.levels):
        cin = level.synthesis[0].weight.shape[0]
        files[f"analysis{k}.onnx"] = _graph(level.analysis, torch.rand(1, 3, 64, 64))
        files[f"synthesis{k}.onnx"] = _graph(level.synthesis, torch.rand(1, cin, 4, 4))
    arrays = _arrays(loaded)
    graphs = export_graphs(loaded, arrays)
    files[GRAPHS] = (json.dumps(graphs, separators=(",", ":")) + "\n").encode()
    blob, index = _pack(arrays)
    files["arrays.bin"] = blob
    manifest = {"format": EXPORT_FORMAT, "model": loaded.name, "weights_sha256": loaded.sha256,
                "config": loaded.config.to_dict(), "opset": OPSET, "arrays": index,
                "files": {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}}
    files["manifest.json"] = (json.dumps(manifest, indent=1) + "\n").encode()
    return write_folder(folder, files)
