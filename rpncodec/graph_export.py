"""Export the coding networks as float64 graphs for :mod:`rpncodec.runtime.graph` (needs torch
and onnx).

A *coding network* is one whose output an entropy-table index depends on (or, for the
hyperprior analysis, one whose output is entropy-coded): each level's prediction, and each
latent codec's :attr:`~rpncodec.latent_codecs.base.LatentCodec.networks`. Each is traced from
its torch module in float64, in the inference path that coding runs (eval mode, no autograd),
through ONNX (``torch.onnx.export``), and rewritten as a plain JSON node list: the runtime
then needs neither ``onnx`` nor ONNX Runtime (which has no float64 convolution) to run it,
and a decoder in another language reads the same files. The format is docs/graphs.md.

No constant folding at export: weights derived from parameters at inference (spectrally
normalised weights, softmaxed channel masks folded into convolutions) stay graph nodes over
the stored parameters, which are float16-exact and shared with ``arrays.bin``; the runtime
folds them once when it loads a graph, in float64.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from .layers import crcm
from .zoo import LoadedModel

GRAPHS_FORMAT = 1
INLINE_MAX = 64  # constants up to this many elements are written into the JSON itself


def coding_networks(loaded: LoadedModel) -> Iterator[tuple[str, nn.Module]]:
    """``(state-dict prefix, module)`` of every coding network of the model, e.g.
    ``("levels.1.prediction", ...)``, ``("levels.0.latent_codec.h_s", ...)``."""
    for k, level in enumerate(loaded.model.levels):
        if level.prediction is not None:
            yield f"levels.{k}.prediction", level.prediction
        for name in level.latent_codec.networks:
            yield f"levels.{k}.latent_codec.{name}", getattr(level.latent_codec, name)


def in_channels(net: nn.Module) -> int:
    """Input channels of a network: those of its first convolution."""
    for m in net.modules():
        if isinstance(m, nn.ConvTranspose2d):
            return m.weight.shape[0]
        if isinstance(m, nn.Conv2d):
            return m.weight.shape[1]
    raise ValueError(f"{type(net).__name__} has no convolution")


def _vdot(g, a, b):  # a TorchScript symbolic
    """``aten::vdot`` of real vectors (spectral norm's sigma), which ONNX lacks: the sum of
    the products."""
    return g.op("ReduceSum", g.op("Mul", a, b), keepdims_i=0)


def _trace(net: nn.Module) -> onnx.ModelProto:
    """``net`` in float64 as traced ONNX (dynamic height and width, input ``x``, output
    ``y``), in its inference path, with the stride-2 transposed convolutions as themselves
    (their sub-pixel form derives its weight by index assignments)."""
    net = copy.deepcopy(net).to(torch.float64).eval()
    example = torch.rand(1, in_channels(net), 6, 7, dtype=torch.float64)
    f = io.BytesIO()
    method, crcm.NARROW_METHOD = crcm.NARROW_METHOD, "direct"
    torch.onnx.register_custom_op_symbolic("aten::vdot", _vdot, 17)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (example,), f, dynamo=False, input_names=["x"],
                              output_names=["y"], opset_version=17,
                              do_constant_folding=False,
                              dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "H", 3: "W"}})
    finally:
        crcm.NARROW_METHOD = method
        torch.onnx.unregister_custom_op_symbolic("aten::vdot", 17)
    return onnx.load_from_string(f.getvalue())


def _inline(a: np.ndarray) -> dict:
    """A small constant as JSON: dtype name, shape and values (float64 values round-trip
    exactly through JSON numbers)."""
    return {"dtype": a.dtype.name, "shape": list(a.shape), "data": a.reshape(-1).tolist()}


def _attribute(attr: onnx.AttributeProto, name_array: Callable[[np.ndarray], str]) -> object:
    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, onnx.TensorProto):
        a = numpy_helper.to_array(value)
        return _inline(a) if a.size <= INLINE_MAX else {"array": name_array(a)}
    if isinstance(value, list):
        return [v.decode() if isinstance(v, bytes) else v for v in value]
    if isinstance(value, float):
        # ONNX float attributes are float32: keep the decimal value the module was given
        # (LayerNorm's eps 1e-12, not its float32 neighbour), i.e. the shortest decimal
        # that rounds to the stored float32
        return float(str(np.float32(value)))
    if isinstance(value, (int, str)):
        return value
    raise ValueError(f"unsupported ONNX attribute {attr.name!r} ({type(value).__name__})")


def export_graph(prefix: str, net: nn.Module, state: dict[str, np.ndarray],
                 arrays: dict[str, np.ndarray]) -> dict:
    """The graph of ``net`` (state-dict ``prefix``) as a JSON-ready dict.

    Initialisers that are state-dict entries are named by their full key, which must be in
    ``arrays`` (the export's stored arrays); others (large constants) are added to
    ``arrays`` under ``<prefix>.const<N>``. ``state`` is the model's state dict in numpy.
    """
    graph = _trace(net).graph
    names: dict[str, str] = {"x": "x", "y": "y"}
    params: list[str] = []
    extra = 0

    def name_array(a: np.ndarray) -> str:
        nonlocal extra
        key = f"{prefix}.const{extra}"
        extra += 1
        arrays[key] = a
        params.append(key)
        return key

    for init in graph.initializer:
        key = f"{prefix}.{init.name}"
        if key in state:
            value = numpy_helper.to_array(init)
            if key not in arrays or not np.array_equal(value, state[key].astype(value.dtype)):
                raise ValueError(f"{key}: traced initialiser differs from the state dict, or "
                                 "is not among the stored arrays")
            params.append(key)
            names[init.name] = key
        else:
            names[init.name] = name_array(numpy_helper.to_array(init))

    def value(n: str) -> str:
        if n not in names:
            names[n] = f"t{len(names)}"
        return names[n]

    nodes = []
    for node in graph.node:
        attrs = {a.name: _attribute(a, name_array) for a in node.attribute}
        nodes.append({"op": node.op_type, "in": [value(n) if n else "" for n in node.input],
                      "out": [value(n) for n in node.output], "attrs": attrs})
    return {"params": params, "nodes": nodes}


def export_graphs(loaded: LoadedModel, arrays: dict[str, np.ndarray]) -> dict:
    """Every coding network of ``loaded`` (graph name = state-dict prefix), the content of
    ``graphs.json``; large constants are added to ``arrays``."""
    state = {k: v.detach().cpu().numpy() for k, v in loaded.model.state_dict().items()}
    graphs = {prefix: export_graph(prefix, net, state, arrays)
              for prefix, net in coding_networks(loaded)}
    return {"format": GRAPHS_FORMAT, "dtype": "float64", "graphs": graphs}
