"""Inference contract for speed and devices: what the encoder skips, layer-k cost, devices."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from rpncodec import codec
from rpncodec.cli import main
from rpncodec.errors import ModelError
from rpncodec.tensors import to_tensor
from rpncodec.utils.testing import smooth_image
from rpncodec.zoo import load_model, resolve_device

BENCH = Path(__file__).resolve().parents[1] / "bench" / "codec_speed.py"


def test_compress_without_reconstruction_gives_the_same_strings(tiny) -> None:
    x = to_tensor(codec.pad(smooth_image(40, 56), 16))
    with_recon, recon = tiny.model.compress(x)
    without, none = tiny.model.compress(x, reconstruct=False)
    assert with_recon == without and none is None and recon.shape == x.shape


def test_encoder_runs_no_synthesis(tiny, monkeypatch) -> None:
    """Coding the learned layers needs no synthesis (the tools that compare decoded layers,
    exact colours and residual layers, decode them; a smooth image gets no exact colours)."""
    calls = []
    for level in tiny.model.levels:
        s = level.synthesis
        monkeypatch.setattr(s, "forward", lambda *a, s=s: calls.append(s))
    codec.encode(smooth_image(32, 32), tiny, residual=False)
    assert calls == []


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_coding_only_the_first_layers_gives_a_prefix_of_the_full_encode(tiny, layers) -> None:
    x = to_tensor(codec.pad(smooth_image(24, 40), 16))
    full, _ = tiny.model.compress(x, reconstruct=False)
    first, recon = tiny.model.compress(x, layers=layers)
    assert first == full[:layers]
    decoded = tiny.model.decompress(full, tiny.model.latent_size(24, 40), layers)
    assert torch.equal(recon, decoded)


def test_layer_k_decode_runs_only_levels_up_to_k(tiny, monkeypatch) -> None:
    x = to_tensor(codec.pad(smooth_image(32, 32), 16))
    strings, _ = tiny.model.compress(x, reconstruct=False)
    ran = []
    for i, level in enumerate(tiny.model.levels):
        for name in ("analysis", "synthesis"):
            m = getattr(level, name)
            monkeypatch.setattr(m, "forward", lambda *a, m=m, tag=(name, i + 1): (
                ran.append(tag), type(m).forward(m, *a))[1])
    # predictions run as float64 copies (coding precision): count them at the class
    prediction = type(tiny.model.levels[1].prediction)
    real = prediction.forward
    monkeypatch.setattr(prediction, "forward", lambda self, z: (
        ran.append(("prediction", z.dtype)), real(self, z))[1])
    tiny.model.decompress(strings, tiny.model.latent_size(32, 32), 2)
    assert ran == [("prediction", torch.float64), ("synthesis", 2)]


def test_device_errors_are_one_line_model_errors() -> None:
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ModelError, match="unknown device 'tpu0'"):
        resolve_device("tpu0")
    with pytest.raises(ModelError, match="unsupported device 'meta'"):
        resolve_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="CUDA is not available"):
            load_model(None, "cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the no-CUDA error")
def test_cli_device_cuda_without_cuda_is_one_clear_line(tmp_path, capsys, image_file) -> None:
    out = tmp_path / "x.rpn"
    assert main(["encode", str(image_file), "-o", str(out), "--device", "cuda"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rpncodec: error:") and "CUDA" in err[0]
    assert not out.exists()


def test_explicit_cpu_device_decodes_identically(tiny, tiny_model_path) -> None:
    data = codec.encode(smooth_image(33, 47), tiny)
    default = codec.decode(data, None, tiny_model_path).image
    assert (codec.decode(data, None, tiny_model_path, "cpu").image == default).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_encode_decode_is_deterministic_and_decodes_on_cpu(tiny_model_path) -> None:
    gpu = load_model(tiny_model_path, "cuda")
    image = smooth_image(64, 80)
    data = codec.encode(image, gpu)
    assert codec.encode(image, gpu) == data
    a = codec.decode(data, None, gpu).image
    assert (codec.decode(data, None, gpu).image == a).all()
    # Another device type decodes the same layers (not necessarily bit-exactly).
    assert codec.decode(data, None, tiny_model_path, "cpu").image.shape == a.shape


def test_speed_benchmark_runs_on_a_folder_and_writes_json(tmp_path, tiny_model_path) -> None:
    spec = importlib.util.spec_from_file_location("codec_speed", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(smooth_image(48, 64)).save(folder / "a.png")
    out = tmp_path / "speed.json"
    threads = torch.get_num_threads()
    try:
        assert bench.main(["--folder", str(folder), "--models", tiny_model_path, "--repeats",
                           "1", "--threads", "1", "--json", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    report = json.loads(out.read_text())
    names = [(e["model"], e["layer"]) for e in report["summary"]]
    assert names == [("tiny-q", k) for k in range(1, 5)] + [("tiny-q-level1", 1)] + [
        ("openjpeg", k) for k in range(1, 5)]
    first = report["summary"][0]
    assert first["decode"]["seconds"] > 0 and first["encode"]["gmacs"] > 0
    assert 0 <= first["decode"]["entropy_share"] < 1 and report["matmul_gflops"] > 0
    macs = [e["decode"]["gmacs"] for e in report["summary"][:4]]
    assert macs == sorted(macs) and macs[0] < macs[-1]  # layer-k decode grows with k


def test_speed_benchmark_skips_a_missing_folder(tmp_path, capsys) -> None:
    spec = importlib.util.spec_from_file_location("codec_speed", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--folder", str(tmp_path / "none")]) == 0
    assert "skipped" in capsys.readouterr().err
