"""Shapes and parameter counts of the RPN building blocks against rpn-reference.md's tables."""

from __future__ import annotations

import pytest
import torch

from rpncodec.layers.context import GlobalContext
from rpncodec.layers.crcm import (
    InformationEnhance,
    QualityPrediction,
    RedundancyRemoval,
    SpatialPrediction,
)
from rpncodec.layers.masks import SparseMaskBlock, SpatialMask
from rpncodec.layers.uncertainty import UncertaintyNet
from rpncodec.models import ModelConfig, build_model, preset


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_quality_prediction_shapes_follow_the_reference_table() -> None:
    p = QualityPrediction(96, 120).eval()
    z = torch.randn(1, 96, 16, 16)
    x0 = p.rrb0(z)
    x1 = p.ieb1(x0, z)
    x2 = p.rrb2(x1, x0)
    x3 = p.ieb3(x2, x1)
    x4 = p.rrb4(x3, x2)
    shapes = [tuple(t.shape[1:]) for t in (x0, x1, x2, x3, x4, p.ieb5(x4, x3))]
    assert shapes == [(96, 8, 8), (48, 16, 16), (96, 8, 8), (48, 16, 16), (120, 8, 8),
                      (120, 16, 16)]
    assert p.ieb5.fuse.in_channels == 108  # 60 upsampled + 48 skip (reference: 108 -> 120)


def test_spatial_prediction_doubles_resolution() -> None:
    p = SpatialPrediction(96, 96).eval()
    assert p(torch.randn(1, 96, 8, 8)).shape == (1, 96, 16, 16)
    assert abs(count(p) - 0.983e6) < 0.005e6  # reference appendix A


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (6, 6), (7, 4)])
def test_prediction_works_for_any_latent_size(size: tuple[int, int]) -> None:
    p = QualityPrediction(8, 12).eval()
    assert p(torch.randn(1, 8, *size)).shape == (1, 12, *size)


def test_paper_preset_parameter_counts_match_the_reference() -> None:
    model = build_model(preset("quality", "paper"))
    assert abs(count(model) - 24.1e6) < 0.05e6
    assert abs(count(model.analyses) - 6.50e6) < 0.01e6
    assert abs(count(model.syntheses) - 9.33e6) < 0.01e6
    predictions = [count(p) / 1e6 for p in model.predictions]
    assert predictions == pytest.approx([1.67, 2.53, 4.03], abs=0.01)
    assert [s[0].in_channels for s in model.syntheses] == [96, 216, 360, 556]


def test_uncertainty_nets_upsample_to_image_size_and_stay_above_minus_one() -> None:
    quality = UncertaintyNet(120, 96, steps=4)
    s = quality(torch.randn(2, 120, 16, 16))
    assert s.shape == (2, 3, 256, 256) and s.min() >= -1
    spatial = UncertaintyNet(96, 96, steps=3)
    assert spatial(torch.randn(1, 96, 16, 16)).shape == (1, 3, 128, 128)


def test_spatial_mask_is_a_probability_map_of_the_input_size() -> None:
    mask = SpatialMask(96).eval()
    for h, w in [(8, 8), (16, 16), (5, 7)]:
        m = mask(torch.randn(1, 96, h, w))
        assert m.shape == (1, 1, h, w) and 0 <= m.min() and m.max() <= 1
    assert mask.body[0].out_channels == 24  # C/4


def test_sparse_mask_softmax_axis_is_configurable() -> None:
    fixed = SparseMaskBlock(16, mask_axis="pair").eval()
    probs = torch.softmax(fixed.ch_mask, dim=1)
    assert torch.allclose(probs.sum(1), torch.ones(3, 16))  # dense + sparse = 1 per channel
    ref = SparseMaskBlock(16, mask_axis="channel")
    assert ref.mask_axis == "channel"
    with pytest.raises(ValueError):
        SparseMaskBlock(16, mask_axis="spatial")
    x, m = torch.randn(1, 16, 6, 6), torch.rand(1, 1, 6, 6)
    assert fixed(x, m).shape == (1, 16, 6, 6) and ref.eval()(x, m).shape == (1, 16, 6, 6)


def test_inference_is_deterministic_and_training_is_stochastic() -> None:
    torch.manual_seed(0)
    p = QualityPrediction(8, 8)
    z = torch.randn(1, 8, 6, 6)
    p.eval()
    assert torch.equal(p(z), p(z))  # noise-free masks, frozen spectral-norm vectors
    p.train()
    assert not torch.equal(p(z), p(z))  # Gumbel noise in training


def test_blocks_keep_or_change_size_as_specified() -> None:
    x = torch.randn(1, 16, 6, 6)
    assert GlobalContext(16)(x).shape == x.shape
    assert RedundancyRemoval(16, 16).eval()(x).shape == (1, 16, 3, 3)
    assert InformationEnhance(16, 16)(x).shape == (1, 8, 12, 12)
    assert InformationEnhance(16, 16, skip=4, out=16)(x, torch.randn(1, 4, 11, 12)).shape == (
        1, 16, 11, 12)


def test_config_round_trips_and_rejects_bad_widths() -> None:
    cfg = preset("quality", "cpu")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        ModelConfig("quality", (10, 12))
    with pytest.raises(ValueError):
        ModelConfig("spatial", (8, 8))
    with pytest.raises(ValueError):
        preset("quality", "huge")
