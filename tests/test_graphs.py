"""The torch-free float64 prediction networks (rpncodec/runtime) against torch's inference path
in float64: random-initialised modules of several widths, mask axes and sizes, and the shipped
level-2 predictions."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from rpncodec.layers.crcm import QualityPrediction, SpatialPrediction
from rpncodec.runtime import ops
from rpncodec.runtime.prediction import Prediction
from rpncodec.zoo import load_model

TOL = 1e-9


def _compare(pred: torch.nn.Module, kind: str, mask_axis: str, size: tuple[int, int],
             label: str, scale: float = 1.0) -> None:
    """Run ``pred`` in float64 under torch's inference path and the numpy Prediction on the
    same input; assert and report their largest difference."""
    ref_module = copy.deepcopy(pred).double().eval()
    params = {k: v.double().numpy() for k, v in ref_module.state_dict().items()}
    ff = params["rrb0.down.weight" if kind == "quality" else "ieb1.up.weight"].shape[
        1 if kind == "quality" else 0]
    z = torch.randn(1, ff, *size, dtype=torch.float64) * scale
    with torch.no_grad():
        ref = ref_module(z).numpy()
    out = Prediction(kind, mask_axis, params)(z.numpy())
    assert out.shape == ref.shape
    assert out.dtype == np.float64
    diff = float(np.abs(out - ref).max())
    rel = diff / float(np.abs(ref).max())
    print(f"\n{label}: max |numpy - torch64| = {diff:.3e} (relative {rel:.3e})")
    assert diff < TOL, f"{label}: max abs difference {diff:.3e}"


@pytest.mark.parametrize("mask_axis", ["pair", "channel"])
@pytest.mark.parametrize("size", [(5, 7), (6, 8)])
@pytest.mark.parametrize(("kind", "ff", "fl"),
                         [("quality", 8, 16), ("quality", 16, 8),
                          ("spatial", 8, 16), ("spatial", 16, 8)])
def test_random_prediction_matches_torch(kind: str, ff: int, fl: int, size: tuple[int, int],
                                         mask_axis: str) -> None:
    torch.manual_seed(ff * 100 + fl + size[0])
    cls = QualityPrediction if kind == "quality" else SpatialPrediction
    pred = cls(ff, fl, mask_axis)
    _compare(pred, kind, mask_axis, size, f"{kind} ff={ff} fl={fl} {mask_axis} {size}")


@pytest.fixture(scope="module")
def shipped_predictions() -> dict[str, torch.nn.Module]:
    return {name: load_model(name).model.levels[1].prediction
            for name in ("rpn-quality-cond", "rpn-spatial-cond")}


@pytest.mark.parametrize("size", [(5, 7), (8, 12)])
@pytest.mark.parametrize("name", ["rpn-quality-cond", "rpn-spatial-cond"])
def test_shipped_prediction_matches_torch(shipped_predictions: dict, name: str,
                                          size: tuple[int, int]) -> None:
    torch.manual_seed(7 + size[0])
    pred = shipped_predictions[name]
    kind = "quality" if isinstance(pred, QualityPrediction) else "spatial"
    mask_axis = pred.rrb2.sparse.mask_axis
    _compare(pred, kind, mask_axis, size, f"{name} level 2 {size}", scale=2.0)


def test_prediction_rejects_bad_parameters() -> None:
    torch.manual_seed(0)
    params = {k: v.double().numpy() for k, v in QualityPrediction(8, 8).state_dict().items()}
    with pytest.raises(ValueError, match="kind"):
        Prediction("other", "pair", params)
    with pytest.raises(KeyError, match=r"rrb0\.down\.weight"):
        Prediction("quality", "pair", {k: v for k, v in params.items()
                                       if k != "rrb0.down.weight"})
    with pytest.raises(ValueError, match="unexpected"):
        Prediction("quality", "pair", {**params, "extra.weight": np.zeros(1)})


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
    code = ("import sys; sys.modules['torch'] = None; "
            "import rpncodec.runtime, rpncodec.runtime.ops, rpncodec.runtime.prediction")
    subprocess.run([sys.executable, "-c", code], check=True)
