"""The latent codecs beyond the paper (conditional Gaussian, hyperprior): real coding on tiny
models, exact decoding, the index check, and conversion from a factorized model."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from rpncodec import codec
from rpncodec.entropy.coding import SCALES, scale_indices
from rpncodec.entropy.gaussian import GaussianConditional
from rpncodec.errors import BitstreamError
from rpncodec.models import ModelConfig, build_model
from rpncodec.tensors import to_tensor
from rpncodec.training.export import export
from rpncodec.training.heads import convert
from rpncodec.utils import fuzz
from rpncodec.utils.testing import smooth_image
from rpncodec.zoo import load_model

CODECS = {"quality": ("hyperprior", "conditional", "conditional", "conditional"),
          "spatial": ("hyperprior", "conditional", "conditional")}


def tiny_conditional(folder, mode: str, seed: int = 0) -> str:
    torch.manual_seed(seed)
    model = build_model(ModelConfig(mode, (8,) * len(CODECS[mode]),
                                    latent_codecs=CODECS[mode]))
    path = folder / f"tiny-cond-{mode}.pt"
    export(model, path, settle_steps=200)
    return str(path)


@pytest.fixture(scope="module", params=["quality", "spatial"])
def loaded(request, tmp_path_factory):
    return load_model(tiny_conditional(tmp_path_factory.mktemp("cond"), request.param))


def test_every_layer_decodes_to_what_the_encoder_reconstructs(loaded) -> None:
    image = smooth_image(70, 100, seed=1)
    data = codec.encode(image, loaded, tile=64)
    x = to_tensor(codec.pad(image[:64, :64], loaded.model.pad_multiple))
    for k in range(1, loaded.config.layers + 1):
        strings, recon = loaded.model.compress(x, layers=k)
        assert torch.equal(recon, loaded.model.decompress(strings, loaded.model.latent_size(
            64, 64), k))
        decoded = codec.decode(data, k, loaded)
        assert decoded.layers == k and decoded.image.dtype == np.uint8


def test_a_decoder_with_other_scales_stops_with_a_clear_error(loaded) -> None:
    data = codec.encode(smooth_image(64, 64), loaded)
    head = loaded.model.levels[1].latent_codec.head[-1].bias
    saved = head.clone()
    try:
        with torch.no_grad():
            head.add_(3.0)  # every scale index moves: an encoder/decoder disagreement
        with pytest.raises(BitstreamError, match="indices differ from the encoder's"):
            codec.decode(data, 2, loaded)
        assert codec.decode(data, 1, loaded).layers == 1  # level 1 does not use that head
    finally:
        with torch.no_grad():
            head.copy_(saved)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scale_indices_match_an_exact_reference(dtype) -> None:
    """The index rule (float64 when coding), checked with exact comparisons in Python,
    including the table's own values and their neighbours."""
    rng = np.random.default_rng(0)
    table = SCALES[:-1].astype(dtype)
    scales = np.concatenate([rng.uniform(0.01, 80, 2000).astype(dtype), table,
                             np.nextafter(table, dtype(0)), np.nextafter(table, dtype(99))])
    scales = np.concatenate([scales, dtype([1e-30, 0, -5, 63.99, 64, 1e30, np.inf])])
    expected = [int(np.sum(table < max(s, dtype(0.11)))) for s in scales]
    assert scale_indices(scales).tolist() == expected
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no valid file has one: a quiet, valid index
        assert scale_indices(dtype([np.nan, -np.inf])).tolist() == [0, 0]


def test_symbols_far_outside_the_tables_round_trip() -> None:
    g = GaussianConditional()
    g.update()
    scales = torch.full((1, 2, 3, 3), 0.2)
    symbols = torch.tensor([0, 1, -1, 70000, -70000, 5, 0, 0, 2] * 2).view(1, 2, 3, 3)
    assert torch.equal(g.decompress(g.compress(symbols, scales), scales), symbols)


def test_converted_model_decodes_the_same_latents_as_its_base(tiny) -> None:
    """New codecs start at the base model's medians: only the bits may change."""
    converted = convert(tiny.model, list(CODECS["quality"])).eval()
    converted.update()
    x = to_tensor(codec.pad(smooth_image(48, 48, seed=2), 16))
    base_strings, base = tiny.model.compress(x)
    strings, recon = converted.compress(x)
    assert torch.equal(recon, base)
    assert strings != base_strings


def test_damaged_conditional_files_end_cleanly(loaded, tmp_path) -> None:
    files = [codec.encode(smooth_image(64, 96, seed=s), loaded, tile=64) for s in (3, 4)]
    result = fuzz.run_campaign(files, loaded, cases=60, seed=7, time_limit_s=300,
                               record_dir=tmp_path)
    assert not any(result[o] for o in fuzz.FAILURES), result.failures[:3]
    assert result["decoded"] > 5 and result["clean error"] > 5


DECODE = ("import sys, torch; torch.set_num_threads(int(sys.argv[3])); "
          "from rpncodec import codec; from rpncodec.zoo import load_model; "
          "d = codec.decode(open(sys.argv[1], 'rb').read(), None, load_model(sys.argv[2])); "
          "sys.stdout.buffer.write(d.image.tobytes())")


def test_another_process_with_two_threads_decodes_identical_pixels(tmp_path) -> None:
    path = tiny_conditional(tmp_path, "quality")
    model = load_model(path)
    data = codec.encode(smooth_image(96, 128, seed=5), model)
    (tmp_path / "x.rpn").write_bytes(data)
    here = codec.decode(data, None, model).image.tobytes()
    for threads in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", DECODE, str(tmp_path / "x.rpn"), path,
                              threads], capture_output=True, check=True).stdout
        assert out == here


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cpu_and_gpu_decode_each_others_files(tmp_path) -> None:
    path = tiny_conditional(tmp_path, "quality")
    cpu, gpu = load_model(path), load_model(path, "cuda")
    image = smooth_image(96, 128, seed=6)
    for encoder, decoder in ((cpu, gpu), (gpu, cpu)):
        data = codec.encode(image, encoder)
        try:
            decoded = codec.decode(data, None, decoder).image
        except BitstreamError as exc:  # allowed: a clean refusal, never garbage
            assert "indices differ" in str(exc)
            continue
        reference = codec.decode(data, None, encoder).image.astype(int)
        assert np.abs(decoded.astype(int) - reference).max() <= 2


def test_the_trainer_trains_and_exports_a_conditional_model(tmp_path) -> None:
    from PIL import Image

    from rpncodec.training.config import TrainConfig
    from rpncodec.training.trainer import Trainer

    folder = tmp_path / "images"
    folder.mkdir()
    for seed in range(3):
        Image.fromarray(smooth_image(80, 80, seed=seed)).save(folder / f"{seed}.png")
    cfg = TrainConfig(preset="tiny", latent_codecs=list(CODECS["quality"]), steps=3, batch=2,
                      crop=64, data=str(folder), val_every=3, checkpoint_every=3,
                      guidance=False)
    trainer = Trainer(cfg, tmp_path / "run")
    before = trainer.model.levels[2].latent_codec.head[0].weight.clone()
    trainer.run()
    assert not torch.equal(before, trainer.model.levels[2].latent_codec.head[0].weight)
    export(trainer.model, tmp_path / "m.pt", settle_steps=10)
    loaded = load_model(str(tmp_path / "m.pt"))
    assert loaded.config.latent_codecs == CODECS["quality"]
    assert codec.decode(codec.encode(smooth_image(32, 32), loaded), None, loaded).layers == 4
