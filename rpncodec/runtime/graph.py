"""A float64 interpreter for the exported coding networks (``graphs.json``, docs/graphs.md).

The networks whose outputs choose entropy tables (predictions, scale heads, the hyperprior's
transforms) are defined once, by their torch modules; :mod:`rpncodec.graph_export` traces
them into a list of ONNX-style nodes, and this module runs that list in float64 numpy: one
small kernel per op, the convolutions being :mod:`.ops`' BLAS ones. Nodes that depend only on
stored parameters (spectrally normalised weights, folded channel masks) are evaluated once,
when the graph is loaded; the rest run at every call in the stored (topological) order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ..errors import ModelError
from . import ops

Array = np.ndarray
Kernel = Callable[..., Array]

MAX_SHAPES = 64  # input shapes whose shape arithmetic a graph keeps (tiles have a few)
# ONNX TensorProto data types the graphs use (Cast, ConstantOfShape)
_DTYPES = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 11: np.float64}


def _array(value: Array) -> Array:
    """A stored array as the interpreter computes with it: floats as float64."""
    value = np.asarray(value)
    return value.astype(np.float64) if value.dtype.kind == "f" else value


def _single(values: list, what: str) -> int:
    if len(set(values)) != 1:
        raise ModelError(f"graph: {what} {values} are not supported (only equal values)")
    return int(values[0])


# -- kernels: f(*inputs, **attrs) -> output --------------------------------------------------
def _conv(x: Array, w: Array, b: Array | None = None, *, strides=(1, 1), pads=(0, 0, 0, 0),
          dilations=(1, 1), group: int = 1, kernel_shape=None) -> Array:
    if group != 1 or any(d != 1 for d in dilations):
        raise ModelError("graph: Conv with groups or dilation is not supported")
    return ops.conv2d(x, w, b, stride=_single(strides, "Conv strides"),
                      padding=_single(pads, "Conv pads"))


def _conv_transpose(x: Array, w: Array, b: Array | None = None, *, strides=(1, 1),
                    pads=(0, 0, 0, 0), output_padding=(0, 0), dilations=(1, 1), group: int = 1,
                    kernel_shape=None) -> Array:
    if group != 1 or any(d != 1 for d in dilations):
        raise ModelError("graph: ConvTranspose with groups or dilation is not supported")
    return ops.conv_transpose2d(x, w, b, stride=_single(strides, "ConvTranspose strides"),
                                padding=_single(pads, "ConvTranspose pads"),
                                output_padding=_single(output_padding, "output_padding"))


def _average_pool(x: Array, *, kernel_shape, strides, pads=(0, 0, 0, 0), ceil_mode: int = 0,
                  count_include_pad: int = 0) -> Array:
    """2x2 means with the size rounded up; a window that overhangs an odd edge averages its
    valid elements, as torch's ``AvgPool2d(2, ceil_mode=True)`` (there is no padding to count,
    whatever ``count_include_pad`` says)."""
    if (list(kernel_shape), list(strides), any(pads), ceil_mode) != ([2, 2], [2, 2], False, 1):
        raise ModelError("graph: AveragePool other than 2x2, stride 2, ceil mode is not "
                         "supported")
    return ops.avg_pool2_ceil(x)


def _gemm(a: Array, b: Array, c: Array | None = None, *, alpha: float = 1.0, beta: float = 1.0,
          transA: int = 0, transB: int = 0) -> Array:  # ONNX attribute names
    out = (a.T if transA else a) @ (b.T if transB else b)
    if alpha != 1.0:
        out = out * alpha
    if c is not None:
        out = out + (c if beta == 1.0 else beta * c)
    return out


def _layer_norm(x: Array, scale: Array, bias: Array | None = None, *, axis: int = -1,
                epsilon: float = 1e-5, stash_type: int = 1) -> Array:
    if axis not in (-1, x.ndim - 1):
        raise ModelError("graph: LayerNormalization is supported over the last axis only")
    return ops.layer_norm(x, scale, bias, epsilon)


def _reduce_sum(x: Array, axes: Array | None = None, *, keepdims: int = 1,
                noop_with_empty_axes: int = 0) -> Array:
    if axes is None or axes.size == 0:
        return x if noop_with_empty_axes else np.sum(x, keepdims=bool(keepdims))
    return np.sum(x, axis=tuple(int(a) for a in axes), keepdims=bool(keepdims))


def _reshape(x: Array, shape: Array, *, allowzero: int = 0) -> Array:
    shape = [int(s) for s in shape]
    if not allowzero:
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _slice(x: Array, starts: Array, ends: Array, axes: Array | None = None,
           steps: Array | None = None) -> Array:
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        index[int(a)] = slice(int(s), int(e), int(st))  # Python slicing clamps as ONNX does
    return x[tuple(index)]


def _div(a: Array, b: Array) -> Array:
    if a.dtype.kind in "iu":  # ONNX integer division truncates
        return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(a.dtype)
    return a / b


def _constant(*, value: Array) -> Array:
    return value


def _constant_of_shape(shape: Array, *, value: Array | None = None) -> Array:
    fill = np.zeros(1, np.float32) if value is None else value
    return np.full([int(s) for s in shape], fill.reshape(-1)[0], dtype=fill.dtype)


def _unsqueeze(x: Array, axes: Array) -> Array:
    out_ndim = x.ndim + len(axes)
    return np.expand_dims(x, tuple(sorted(int(a) % out_ndim for a in axes)))


KERNELS: dict[str, Kernel] = {
    "Add": np.add,
    "AveragePool": _average_pool,
    "Cast": lambda x, *, to, saturate=1: x.astype(_DTYPES[to]),
    "Concat": lambda *xs, axis: np.concatenate(xs, axis=axis),
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "Div": _div,
    "Equal": np.equal,
    "Expand": lambda x, shape: np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(shape))),
    "Flatten": lambda x, *, axis=1: x.reshape(int(np.prod(x.shape[:axis])), -1),
    "Gather": lambda x, i, *, axis=0: np.take(x, i, axis=axis),
    "Gemm": _gemm,
    "Identity": lambda x: x,
    "LayerNormalization": _layer_norm,
    "MatMul": np.matmul,
    "Mul": np.multiply,
    "ReduceSum": _reduce_sum,
    "Relu": ops.relu,
    "Reshape": _reshape,
    "Shape": lambda x, *, start=0, end=None: np.array(x.shape[start:end], dtype=np.int64),
    "Sigmoid": ops.sigmoid,
    "Slice": _slice,
    "Softmax": lambda x, *, axis=-1: ops.softmax(x, axis=axis),
    "Sub": np.subtract,
    "Transpose": lambda x, *, perm=None: np.transpose(x, perm),
    "Unsqueeze": _unsqueeze,
    "Where": np.where,
}


def _is_one(a: Array | None) -> bool:
    return a is not None and a.size == 1 and a.dtype.kind == "f" and float(a.reshape(-1)[0]) == 1.0


def _times_one(x: Array, one: Array) -> Array:
    """``x * 1``: ``x`` itself (exact in IEEE arithmetic) unless the 1 adds dimensions."""
    return x if one.ndim <= x.ndim else x * one


def _attrs(attrs: Mapping[str, object], arrays: Mapping[str, Array]) -> dict[str, object]:
    """A node's attributes, with tensors (inline or stored) as arrays."""
    out = {}
    for name, value in attrs.items():
        if isinstance(value, dict) and "array" in value:
            value = _array(arrays[value["array"]])
        elif isinstance(value, dict):
            value = np.array(value["data"], dtype=value["dtype"]).reshape(value["shape"])
        out[name] = value
    return out


class Graph:
    """One exported network, ready to run: ``graph(x) -> y`` on float64 ``[1, C, h, w]``.

    ``spec`` is one entry of ``graphs.json``'s ``graphs``; ``arrays`` the export's stored
    arrays, by key (its ``params`` are read from there).
    """

    def __init__(self, name: str, spec: Mapping, arrays: Mapping[str, Array]) -> None:
        self.name = name
        try:
            consts: dict[str, Array | None] = {"": None}
            for key in spec["params"]:
                consts[key] = _array(arrays[key])
            steps, defined = [], {"x"}
            for node in spec["nodes"]:
                kernel = KERNELS.get(node["op"])
                if kernel is None:
                    raise ModelError(f"graph {name}: unsupported op {node['op']!r}")
                if len(node["out"]) != 1 and node["op"] != "LayerNormalization":
                    raise ModelError(f"graph {name}: {node['op']} with several outputs")
                step = (kernel, node["in"], node["out"][0], _attrs(node["attrs"], arrays))
                ones = [i for i in node["in"] if i in consts and _is_one(consts[i])]
                if node["op"] == "Mul" and ones and len(ones) < len(node["in"]):
                    # torch's addcmul exports a Mul by 1 of a whole map: skip it
                    other = next(i for i in node["in"] if i != ones[0])
                    step = (_times_one, [other, ones[0]], step[2], {})
                if all(i in consts for i in node["in"]):  # parameters only: fold it now
                    consts[step[2]] = self._run(step, consts)
                elif all(i in consts or i in defined for i in node["in"]):
                    steps.append(step)
                    defined.add(step[2])
                else:
                    raise ValueError(f"{node['op']} reads an undefined value")
            if "y" not in defined:
                raise ValueError("no output y")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"graph {name} is malformed ({type(exc).__name__}: {exc})") from None
        needed = {i for _, ins, _, _ in steps for i in ins}
        self.consts = {k: v for k, v in consts.items() if k in needed}
        self.steps = steps
        # Shape arithmetic (Shape, and what is computed from shapes only: crop bounds, reshape
        # targets) depends on the input's shape alone. Its values are kept per input shape: a
        # second call of the same shape (the next tile) runs only the other steps.
        static: set[str] = set()
        for kernel, ins, out, _ in steps:
            if kernel is KERNELS["Shape"] or (any(i in static for i in ins)
                                              and all(i in static or i in consts for i in ins)):
                static.add(out)
        self.static = static
        self._full = self._plan(steps)
        self._dynamic = self._plan([s for s in steps if s[2] not in static])
        self._by_shape: dict[tuple[int, ...], dict[str, Array]] = {}

    def _plan(self, steps: list[tuple]) -> list[tuple]:
        """``steps`` with, for each, the values read for the last time there: a call drops
        them at once, so it holds a few maps at a time, not all of them (measured: a quarter
        of a prediction's time went to touching fresh memory when every intermediate stayed
        alive until the end)."""
        last = {name: i for i, (_, ins, _, _) in enumerate(steps) for name in ins
                if name not in self.consts and name not in ("x", "y")}
        drops: list[list[str]] = [[] for _ in steps]
        for name, i in last.items():
            drops[i].append(name)
        return [(*step, names) for step, names in zip(steps, drops, strict=True)]

    @staticmethod
    def _run(step: tuple, values: Mapping[str, Array | None]) -> Array:
        kernel, ins, _, attrs = step[:4]
        return kernel(*[values[i] for i in ins], **attrs)

    def __call__(self, x: Array) -> Array:
        x = np.asarray(x, dtype=np.float64)
        values = dict(self.consts)
        values["x"] = x
        known = self._by_shape.get(x.shape)
        if known is not None:
            values.update(known)
        fresh: dict[str, Array] = {}
        get = values.__getitem__
        for kernel, ins, out, attrs, drops in self._full if known is None else self._dynamic:
            values[out] = kernel(*map(get, ins), **attrs)
            if known is None and out in self.static:
                fresh[out] = values[out]
            for name in drops:
                del values[name]
        if known is None:  # stored whole, once complete: other threads may call this graph
            if len(self._by_shape) >= MAX_SHAPES:
                self._by_shape.clear()
            self._by_shape[x.shape] = fresh
        return values["y"]


class Graphs:
    """The export's graphs by name (``levels.1.prediction``...), each built on first use."""

    def __init__(self, specs: Mapping[str, Mapping], arrays: Mapping[str, Array]) -> None:
        self._specs, self._arrays = specs, arrays
        self._built: dict[str, Graph] = {}

    def __getitem__(self, name: str) -> Graph:
        if name not in self._built:
            if name not in self._specs:
                raise ModelError(f"the export has no graph {name!r} (re-export the model)")
            self._built[name] = Graph(name, self._specs[name], self._arrays)
        return self._built[name]
