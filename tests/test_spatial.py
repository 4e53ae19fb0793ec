"""SpatialRPN: three levels at 1/4, 1/2 and full resolution, each prefix decodable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rpncodec.models import build_model, preset
from rpncodec.pyramid import level_size, pyramid, pyramid_images
from rpncodec.tensors import to_image, to_tensor
from rpncodec.utils.testing import smooth_image, tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    return tiny_model(tmp_path_factory.mktemp("spatial"), mode="spatial")


def test_forward_reconstructs_each_level_at_its_own_resolution() -> None:
    torch.manual_seed(0)
    model = build_model(preset("spatial", "tiny")).train()
    x = torch.rand(2, 3, 128, 192)
    out = model(x)
    sizes = [tuple(t.shape[-2:]) for t in out["x_hat"]]
    assert sizes == [(32, 48), (64, 96), (128, 192)]
    assert [tuple(t.shape[-2:]) for t in out["targets"]] == sizes
    assert torch.equal(out["targets"][-1], x)
    # each enhancement latent is twice the size of the one below
    assert [tuple(y.shape[-2:]) for y in out["y_hat"]] == [(2, 3), (4, 6), (8, 12)]


def test_decoding_k_strings_matches_the_eval_forward_of_level_k(tiny) -> None:
    x = to_tensor(smooth_image(128, 64))
    model = tiny.model
    strings, top = model.compress(x)
    assert len(strings) == 3
    with torch.no_grad():
        expected = model(x)["x_hat"]
    latent = model.latent_size(128, 64)
    for k in (1, 2, 3):
        # only the first k strings are given: higher levels are never needed
        got = model.decompress(strings[:k], latent, k)
        assert got.shape[-2:] == expected[k - 1].shape[-2:]
        # inference runs channels-last kernels, training-mode forward the default layout
        assert torch.allclose(got, expected[k - 1], atol=1e-4)
    assert torch.equal(top, model.decompress(strings, latent))


def test_enhancement_levels_code_a_residual_against_the_prediction(tiny) -> None:
    """Zeroing the prediction changes what level 2 decodes to: the prior is really used."""
    model = tiny.model
    x = to_tensor(smooth_image(64, 64, seed=3))
    strings, _ = model.compress(x)
    latent = model.latent_size(64, 64)
    with_prior = model.decompress(strings, latent, 2)
    saved = model.levels[1].prediction.ieb5.fuse.bias.clone()
    try:
        with torch.no_grad():
            model.levels[1].prediction.ieb5.fuse.bias.add_(5.0)
        shifted = model.decompress(strings, latent, 2)
    finally:
        with torch.no_grad():
            model.levels[1].prediction.ieb5.fuse.bias.copy_(saved)
    assert not torch.equal(with_prior, shifted)


@pytest.mark.parametrize("size", [(1, 1), (37, 70), (129, 64)])
def test_pyramid_levels_have_ceil_divided_sizes_and_keep_flat_colours(size) -> None:
    h, w = size
    image = np.full((h, w, 3), (200, 30, 90), np.uint8)
    levels = pyramid_images(image, 3)
    assert [lv.shape[:2] for lv in levels] == [level_size(h, w, s) for s in (2, 1, 0)]
    for lv in levels:
        assert (lv == (200, 30, 90)).all()


def test_pyramid_is_an_antialiasing_lowpass() -> None:
    """A one-pixel checkerboard (Nyquist) must not alias into the half-resolution level."""
    board = (np.indices((64, 64)).sum(0) % 2).astype(np.float32)
    x = torch.tensor(board)[None, None].repeat(1, 3, 1, 1)
    half = pyramid(x, 2)[0]
    assert float(half.std()) < 0.01
    assert float(half.mean()) == pytest.approx(0.5, abs=1e-3)


def test_trainer_learns_spatial_mode_with_per_level_rates(tmp_path) -> None:
    from PIL import Image

    from rpncodec.training.trainer import TrainConfig, Trainer

    folder = tmp_path / "train"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(smooth_image(140, 150, seed=i)).save(folder / f"{i}.png")
    cfg = TrainConfig(mode="spatial", preset="tiny", steps=30, batch=2, crop=64, lr=3e-3,
                      data=str(folder), val_every=1000, checkpoint_every=1000, seed=1,
                      rate_warmup=0)
    trainer = Trainer(cfg, tmp_path / "run")
    assert trainer.lambdas == (500.0, 300.0, 150.0)
    first = trainer.train_step()
    for _ in range(28):
        trainer.train_step()
    last = trainer.train_step()
    assert last["loss"] < first["loss"]
    assert len(last["bpp"]) == 3
    # the guided stages ran: stage-1 steps trained the (3-step) uncertainty nets
    assert trainer.uncertainty.nets[0](torch.zeros(1, 8, 2, 2)).shape[-2:] == (16, 16)
    assert cfg.stage_at(29) in (1, 2)


def test_spatial_crop_must_be_a_multiple_of_the_stride(tmp_path) -> None:
    from rpncodec.cli import main

    code = main(["train", "--mode", "spatial", "--preset", "tiny", "--crop", "96",
                 "--steps", "1", "--out", str(tmp_path / "run")])
    assert code == 1


@pytest.mark.parametrize("size", [(1, 1), (70, 45), (130, 67)])
def test_each_layer_of_a_spatial_file_decodes_at_its_share_of_the_size(tiny, size) -> None:
    from rpncodec import bitstream, codec

    h, w = size
    image = smooth_image(h, w, seed=h)
    data = codec.encode(image, tiny)
    assert bitstream.parse(data).header.mode == "spatial"
    previous = 0
    for k in (1, 2, 3):
        prefix = data[: bitstream.prefix_size(bitstream.parse(data), k)]
        assert len(prefix) > previous
        previous = len(prefix)
        decoded = codec.decode(prefix, model=tiny)
        assert decoded.layers == k
        assert decoded.image.shape == (*level_size(h, w, 3 - k), 3)


def test_spatial_layers_reconstruct_their_reference_level(tiny) -> None:
    """Decoding a layer must be what the model computes for that level, cropped: the same
    pixels as the eval forward on the padded image."""
    from rpncodec import codec

    image = smooth_image(100, 80, seed=5)
    data = codec.encode(image, tiny)
    x = to_tensor(codec.pad(image, 64))
    with torch.no_grad():
        expected = tiny.model(x)["x_hat"]
    for k in (1, 2, 3):
        got = codec.decode(data, k, tiny).image
        h, w = level_size(100, 80, 3 - k)
        assert np.array_equal(got, to_image(expected[k - 1][..., :h, :w]))


def test_info_shows_each_spatial_layer_at_its_resolution(tiny, tmp_path, capsys) -> None:
    from rpncodec import codec
    from rpncodec.cli import main

    path = tmp_path / "s.rpn"
    path.write_bytes(codec.encode(smooth_image(70, 45), tiny))
    assert main(["info", str(path)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.strip()[:1].isdigit()]
    assert [r[-1] for r in rows] == ["12x18", "23x35", "45x70"]


def test_a_truncated_spatial_file_reports_the_sizes_its_layers_decode_to() -> None:
    import rpncodec
    from rpncodec import bitstream

    data = rpncodec.encode(smooth_image(64, 96, seed=1), mode="spatial")
    for n in (1, 2, 3):
        cut = bitstream.truncate(data, n)
        info = rpncodec.info(cut)
        assert [(li.width, li.height) for li in info.layers] == [(24, 16), (48, 32),
                                                                  (96, 64)][:n]
        assert rpncodec.decode(cut).size == (info.layers[-1].width, info.layers[-1].height)
