"""Shapes and parameter counts of the RPN building blocks against the tables of
``../shared/design/rpn-reference.md``, and the behaviour the codec relies on (masks, caches)."""

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
from rpncodec.models import ModelConfig, build_model, preset
from rpncodec.training.uncertainty import UncertaintyNet


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
    levels = model.levels
    assert abs(sum(count(level.analysis) for level in levels) - 6.50e6) < 0.01e6
    assert abs(sum(count(level.synthesis) for level in levels) - 9.33e6) < 0.01e6
    predictions = [count(level.prediction) / 1e6 for level in levels[1:]]
    assert predictions == pytest.approx([1.67, 2.53, 4.03], abs=0.01)
    assert levels[0].prediction is None
    assert [level.synthesis[0].in_channels for level in levels] == [96, 216, 360, 556]


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


@pytest.mark.parametrize("training", [False, True])
def test_sparse_mask_channel_masks_normalise_over_the_axis_mask_axis_names(training) -> None:
    """``pair``: each channel's (dense, sparse) weights sum to 1; ``channel`` (the reference's
    bug 2): each layer's dense weights sum to 1 over the channels, and so do its sparse ones.
    Checked on the block's own :meth:`channel_masks`, with and without the Gumbel noise."""
    torch.manual_seed(0)
    layers, channels = 3, 16
    ones_pair, ones_layer = torch.ones(layers, channels), torch.ones(layers)
    pair = SparseMaskBlock(channels, layers, mask_axis="pair").train(training)
    dense, sparse = pair.channel_masks()
    assert dense.shape == sparse.shape == (layers, channels)
    torch.testing.assert_close(dense + sparse, ones_pair)
    assert not torch.allclose(dense.sum(1), ones_layer)  # not a distribution over channels

    channel = SparseMaskBlock(channels, layers, mask_axis="channel").train(training)
    dense, sparse = channel.channel_masks()
    assert dense.shape == sparse.shape == (layers, channels)
    torch.testing.assert_close(dense.sum(1), ones_layer)
    torch.testing.assert_close(sparse.sum(1), ones_layer)
    assert not torch.allclose(dense + sparse, ones_pair)
    if not training:  # noise-free: exactly the softmax of the logits over the named axis
        torch.testing.assert_close(pair.channel_masks()[1], torch.sigmoid(
            pair.ch_mask[:, 1] - pair.ch_mask[:, 0]))
        torch.testing.assert_close(sparse, torch.softmax(channel.ch_mask[:, 1], dim=1))


def test_sparse_mask_refuses_an_unknown_axis_and_both_axes_run() -> None:
    with pytest.raises(ValueError, match="mask_axis must be 'pair' or 'channel', not 'spatial'"):
        SparseMaskBlock(16, mask_axis="spatial")
    x, m = torch.randn(1, 16, 6, 6), torch.rand(1, 1, 6, 6)
    for axis in ("pair", "channel"):
        assert SparseMaskBlock(16, mask_axis=axis).eval()(x, m).shape == (1, 16, 6, 6)


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


# -- inference fast paths (docs/performance.md): same function as the training forward ------------
def _fast_and_reference(module: torch.nn.Module, *inputs: torch.Tensor):
    """Outputs of ``module`` (eval) with autograd on (the training code path) and in
    inference mode on channels-last inputs (the cached, folded, blocked path)."""
    module.eval()
    reference = module(*inputs)
    cl = [t.contiguous(memory_format=torch.channels_last) for t in inputs]
    with torch.inference_mode():
        fast = module(*cl)
        again = module(*cl)
    assert torch.equal(fast, again)  # the cache gives the same result as the first call
    return fast, reference.detach()


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_inference_path_matches_training_path_across_pixel_blocks(monkeypatch,
                                                                      inverse) -> None:
    from rpncodec.layers import gdn

    monkeypatch.setattr(gdn, "BLOCK_ELEMENTS", 8 * 7)  # 7 pixels per block: several blocks
    torch.manual_seed(0)
    layer = gdn.GDN(8, inverse=inverse)
    with torch.no_grad():
        layer.gamma.add_(0.2 * torch.rand(8, 8))
    fast, reference = _fast_and_reference(layer, torch.randn(2, 8, 5, 9))
    assert fast.shape == reference.shape
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-6)


def test_inference_caches_follow_parameter_changes() -> None:
    from rpncodec.layers.gdn import GDN

    layer = GDN(4).eval()
    x = torch.rand(1, 4, 3, 3)
    with torch.no_grad():
        before = layer(x)
        layer.beta.add_(1.0)  # what an optimiser step or load_state_dict does
        after = layer(x)
    assert not torch.equal(before, after)
    torch.testing.assert_close(after, layer.train()(x).detach())


def test_context_and_sparse_mask_inference_paths_match_training_paths() -> None:
    torch.manual_seed(0)
    fast, reference = _fast_and_reference(GlobalContext(16), torch.randn(1, 16, 6, 7))
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5)
    block = SparseMaskBlock(16, 3)
    mask = torch.rand(1, 1, 6, 7)
    fast, reference = _fast_and_reference(block, torch.randn(1, 16, 6, 7), mask)
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cout,kernel", [(3, 5), (8, 3), (4, 5)])
def test_narrow_transposed_conv_runs_as_an_equal_subpixel_conv(cout, kernel) -> None:
    from rpncodec.layers.crcm import Up2, up2

    torch.manual_seed(0)
    layer = up2(16, cout, kernel)
    assert isinstance(layer, Up2) and layer._method() == "subpixel"
    fast, reference = _fast_and_reference(layer, torch.randn(1, 16, 5, 7))
    assert fast.shape == reference.shape == (1, cout, 10, 14)
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5)
    assert up2(16, 16, kernel)._method() == "direct"


def test_prediction_inference_path_matches_training_path() -> None:
    torch.manual_seed(0)
    fast, reference = _fast_and_reference(QualityPrediction(16, 16), torch.randn(1, 16, 7, 9))
    torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-5)


def test_attention_and_spatial_mask_do_not_depend_on_the_thread_count() -> None:
    """torch's 1x1 conv with one output and its softmax over two channels gave thread-count
    dependent last bits on these shapes; the inference paths must not (determinism)."""
    torch.manual_seed(0)
    cases = [(GlobalContext(64).eval(), torch.randn(1, 64, 16, 24)),
             (SpatialMask(8).eval(), torch.randn(1, 8, 3, 4))]
    previous = torch.get_num_threads()
    try:
        for module, x in cases:
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                torch.set_num_threads(1)
                one = module(x)
                torch.set_num_threads(2)
                two = module(x)
            assert torch.equal(one, two), type(module).__name__
    finally:
        torch.set_num_threads(previous)
