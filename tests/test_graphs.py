"""The coding networks' one definition: each torch module exported as a float64 graph
(rpncodec.graph_export) and run by the numpy interpreter (rpncodec.runtime.graph) gives torch's
float64 inference output within 1e-12, for every shipped model (the shipped graphs.json where
the export ships), random predictions of both modes, mask axes and the plain predictor, and
every registered latent codec; the interpreter's kernels against torch; its refusals."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from rpncodec.errors import ModelError
from rpncodec.graph_export import coding_networks, export_graph, export_graphs, in_channels
from rpncodec.latent_codecs import FAMILY_MODULES, build_latent_codec
from rpncodec.latent_specs import FAMILIES, LATENT_CODECS
from rpncodec.layers.crcm import QualityPrediction, SpatialPrediction
from rpncodec.layers.plain import PlainPrediction
from rpncodec.registry import REGISTRY
from rpncodec.runtime import ops
from rpncodec.runtime.graph import Graph, Graphs
from rpncodec.runtime.latent import FAMILY_CLASSES
from rpncodec.runtime.store import load_runtime
from rpncodec.zoo import load_model

TOL = 1e-12


def _torch64(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """``net``'s output in float64 under its inference path (as coding runs it)."""
    with torch.no_grad():
        return copy.deepcopy(net).double().eval()(torch.from_numpy(x)).numpy()


def _input(net: torch.nn.Module, size: tuple[int, int], seed: int, scale: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((1, in_channels(net), *size)) * scale


def _check(graph: Graph, net: torch.nn.Module, size: tuple[int, int], label: str,
           scale: float = 2.0) -> float:
    x = _input(net, size, seed=size[0] * 31 + size[1], scale=scale)
    ref, out = _torch64(net, x), graph(x)
    assert out.shape == ref.shape and out.dtype == np.float64, label
    diff = float(np.abs(out - ref).max())
    print(f"\n{label} {size}: max |graph - torch64| = {diff:.3e}")
    assert diff <= TOL, f"{label}: max abs difference {diff:.3e}"
    return diff


def _graph_of(net: torch.nn.Module) -> Graph:
    """``net`` exported and loaded as the runtime loads it (prefix ``net``)."""
    state = {f"net.{k}": v.detach().numpy() for k, v in net.state_dict().items()}
    arrays = dict(state)
    return Graph("net", export_graph("net", net, state, arrays), arrays)


@pytest.mark.parametrize("mask_axis", ["pair", "channel"])
@pytest.mark.parametrize(("kind", "ff", "fl"),
                         [("quality", 8, 16), ("quality", 16, 8),
                          ("spatial", 8, 16), ("spatial", 16, 8)])
def test_random_prediction_graph_matches_torch(kind: str, ff: int, fl: int,
                                               mask_axis: str) -> None:
    torch.manual_seed(ff * 100 + fl)
    net = (QualityPrediction if kind == "quality" else SpatialPrediction)(ff, fl, mask_axis)
    graph = _graph_of(net)
    # one graph, any size (odd, even, one pixel), and again a size seen before (its shape
    # arithmetic then comes from the graph's per-shape store)
    for size in [(5, 7), (6, 8), (1, 1), (5, 7), (6, 8)]:
        _check(graph, net, size, f"{kind} ff={ff} fl={fl} {mask_axis}")


@pytest.mark.parametrize("upsample", [False, True])
def test_plain_prediction_graph_matches_torch(upsample: bool) -> None:
    torch.manual_seed(3)
    net = PlainPrediction(12, 8, upsample)
    _check(_graph_of(net), net, (5, 7), f"plain upsample={upsample}")


def test_every_latent_codec_has_both_backends_and_graphs_that_match_torch() -> None:
    """Walks the one registry: each name builds on both backends, and each of its
    networks' graphs gives torch's output."""
    assert set(FAMILY_MODULES) == set(FAMILY_CLASSES) == set(FAMILIES)
    for name, spec in LATENT_CODECS.items():
        assert spec.family in FAMILIES, name
        torch.manual_seed(len(name))
        k = 1 if spec.needs_lower else 0
        module = build_latent_codec(name, (8, 12), k)
        assert type(module).__name__ == FAMILY_CLASSES[spec.family].__name__, name
        for net_name in module.networks:
            net = getattr(module, net_name)
            with torch.no_grad():  # untrained output layers start at zero: move them
                for p in net.parameters():
                    p.add_(torch.randn_like(p) * 0.1)
            _check(_graph_of(net), net, (6, 5), f"{name}.{net_name}")


@pytest.fixture(scope="module")
def shipped_graphs() -> dict:
    """Each shipped model's graphs: the shipped graphs.json where its export ships (read by
    the runtime), else exported now."""
    out = {}
    for name, entry in REGISTRY.items():
        loaded = load_model(name)
        if entry.onnx_manifest:
            graphs = load_runtime(name).graphs
        else:
            arrays = {k: v.numpy() for k, v in loaded.model.state_dict().items()}
            graphs = Graphs(export_graphs(loaded, arrays)["graphs"], arrays)
        out[name] = (loaded, graphs)
    return out


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_shipped_graphs_match_torch(shipped_graphs: dict, name: str) -> None:
    loaded, graphs = shipped_graphs[name]
    networks = list(coding_networks(loaded))
    diffs = {prefix: _check(graphs[prefix], net, (7, 10), f"{name} {prefix}", scale=4.0)
             for prefix, net in networks}
    print(f"\n{name}: {len(diffs)} graphs, max difference {max(diffs.values(), default=0):.3e}")
    # a model has a graph for each prediction and each network its latent codecs name
    expected = sum(1 for level in loaded.model.levels if level.prediction is not None)
    expected += sum(len(level.latent_codec.networks) for level in loaded.model.levels)
    assert len(diffs) == expected


def test_interpreter_refuses_unknown_ops_and_malformed_graphs() -> None:
    with pytest.raises(ModelError, match="unsupported op 'Gelu'"):
        Graph("g", {"params": [], "nodes": [{"op": "Gelu", "in": ["x"], "out": ["y"],
                                             "attrs": {}}]}, {})
    with pytest.raises(ModelError, match="malformed"):
        Graph("g", {"params": ["missing"], "nodes": []}, {})
    with pytest.raises(ModelError, match="undefined value"):
        Graph("g", {"params": [], "nodes": [{"op": "Add", "in": ["x", "t1"], "out": ["y"],
                                             "attrs": {}}]}, {})
    with pytest.raises(ModelError, match="no output y"):
        Graph("g", {"params": [], "nodes": []}, {})
    graph = Graph("g", {"params": ["w"], "nodes": [
        {"op": "Conv", "in": ["x", "w"], "out": ["y"], "attrs": {"group": 2}}]},
        {"w": np.zeros((2, 1, 3, 3))})
    with pytest.raises(ModelError, match="groups"):
        graph(np.zeros((1, 2, 3, 3)))
    with pytest.raises(ModelError, match="no graph"):
        Graphs({}, {})["levels.1.prediction"]


def test_an_export_of_the_previous_format_is_refused(tmp_path) -> None:
    """Format 1 had hand-written networks in the runtime and no graphs.json."""
    (tmp_path / "manifest.json").write_text('{"format": 1, "files": {}}')
    with pytest.raises(ModelError, match=r"format 1.*export it again"):
        load_runtime(str(tmp_path))


def test_folded_constants_are_computed_once_at_load() -> None:
    """Nodes over parameters only (spectral norm, channel masks) run when the graph loads:
    what runs per call depends on the input."""
    torch.manual_seed(5)
    graph = _graph_of(QualityPrediction(8, 8))
    assert not any(all(i in graph.consts for i in ins) for _, ins, _, _ in graph.steps)
    assert not any("parametrizations" in key or "ch_mask" in key for key in graph.consts)
    assert all(not isinstance(v, np.ndarray) or v.dtype == np.float64 or v.dtype.kind == "i"
               for v in graph.consts.values())
    assert len(graph._dynamic) < len(graph.steps) - 200  # shape arithmetic: once per shape


@pytest.mark.parametrize(("cin", "cout", "k", "stride", "padding", "h", "w"),
                         [(6, 5, 3, 1, 1, 5, 7), (6, 5, 3, 2, 1, 5, 7), (6, 5, 3, 2, 1, 6, 8),
                          (4, 3, 1, 1, 0, 5, 7), (4, 3, 5, 1, 2, 6, 9), (4, 3, 3, 1, 0, 6, 9)])
def test_conv2d_matches_torch(cin: int, cout: int, k: int, stride: int, padding: int,
                              h: int, w: int) -> None:
    torch.manual_seed(1)
    x, wt, b = torch.randn(1, cin, h, w), torch.randn(cout, cin, k, k), torch.randn(cout)
    x, wt, b = x.double(), wt.double(), b.double()
    ref = F.conv2d(x, wt, b, stride, padding).numpy()
    out = ops.conv2d(x.numpy(), wt.numpy(), b.numpy(), stride, padding)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("stride", "padding", "output_padding", "k", "h", "w"),
                         [(2, 1, 1, 3, 5, 7), (2, 0, 0, 3, 3, 4), (2, 2, 1, 5, 4, 6),
                          (1, 1, 0, 3, 5, 6)])
def test_conv_transpose2d_matches_torch(stride: int, padding: int, output_padding: int,
                                        k: int, h: int, w: int) -> None:
    torch.manual_seed(2)
    x, wt, b = (t.double() for t in (torch.randn(1, 6, h, w), torch.randn(6, 4, k, k),
                                     torch.randn(4)))
    ref = F.conv_transpose2d(x, wt, b, stride, padding, output_padding).numpy()
    out = ops.conv_transpose2d(x.numpy(), wt.numpy(), b.numpy(), stride, padding,
                               output_padding)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("size", [(5, 7), (6, 8), (1, 1), (3, 2)])
def test_small_ops_match_torch(size: tuple[int, int]) -> None:
    torch.manual_seed(3)
    x = torch.randn(1, 3, *size, dtype=torch.float64) * 20
    ref = F.avg_pool2d(x, 2, ceil_mode=True).numpy()  # odd edges: valid elements only
    np.testing.assert_allclose(ops.avg_pool2_ceil(x.numpy()), ref, rtol=1e-15, atol=0)
    np.testing.assert_allclose(ops.sigmoid(x.numpy()), torch.sigmoid(x).numpy(),
                               rtol=1e-14, atol=0)
    np.testing.assert_allclose(ops.softmax(x.numpy(), 1), torch.softmax(x, 1).numpy(),
                               rtol=1e-13, atol=0)
    np.testing.assert_array_equal(ops.up_nearest2(x.numpy()),
                                  F.interpolate(x, scale_factor=2, mode="nearest").numpy())
    v, g, b = (torch.randn(9, dtype=torch.float64) for _ in range(3))
    np.testing.assert_allclose(ops.layer_norm(v.numpy(), g.numpy(), b.numpy(), 1e-12),
                               F.layer_norm(v, (9,), g, b, 1e-12).numpy(), rtol=0, atol=1e-14)
    assert np.all(np.isfinite(ops.sigmoid(np.array([-1e4, 1e4]))))


def test_runtime_imports_without_torch() -> None:
    code = ("import sys; sys.modules['torch'] = None; sys.modules['onnx'] = None; "
            "import rpncodec.runtime.graph, rpncodec.runtime.store, rpncodec.runtime.latent")
    subprocess.run([sys.executable, "-c", code], check=True)
