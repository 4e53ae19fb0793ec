"""The torch-free backend (ONNX Runtime + numpy): export, interoperation with the torch
backend on every shipped model and every latent codec, the index check, the shipped exports,
and a process in which importing torch fails."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch

from rpncodec import bitstream, codec
from rpncodec.backend import open_model
from rpncodec.errors import BitstreamError, ModelError
from rpncodec.imageio import load_image
from rpncodec.metrics import psnr
from rpncodec.models import ModelConfig, build_model
from rpncodec.onnx_export import export_onnx
from rpncodec.registry import REGISTRY
from rpncodec.runtime.images import downsample2
from rpncodec.runtime.store import SHIPPED, load_runtime
from rpncodec.training.export import export
from rpncodec.utils.testing import golden_source, smooth_image
from rpncodec.zoo import load_model

SAMPLE = Path(__file__).resolve().parents[1] / "rpncodec" / "samples" / "kodim23.png"
# latent codec variants on tiny models: every numpy twin against its torch original
VARIANTS = {
    "quality": [("factorized",) * 4, ("hyperprior", "conditional", "conditional-mean0",
                                      "conditional-ms"), ("hyperprior-ms",) + ("factorized",) * 3],
    "spatial": [("factorized", "conditional", "conditional"),
                ("hyperprior", "conditional-ms", "conditional")],
}
CASES = [(mode, codecs, "crcm") for mode, variants in VARIANTS.items() for codecs in variants]
CASES += [(mode, VARIANTS[mode][1], "plain") for mode in VARIANTS]  # the ablation's predictor


def interop(torch_model, onnx_model, image: np.ndarray, tile: int = 1024) -> list[float]:
    """Files of each backend decode with the other: every layer, pixels within 1 level of the
    writing backend's own decode. Returns the share of differing values per layer. (Exact
    colours are off: snapping can turn a one-level difference into a larger one, which
    tests/test_exact_colours.py bounds apart.)"""
    shares = []
    for writer in (torch_model, onnx_model):
        data = codec.encode(image, writer, tile, exact=False)
        for k in range(1, writer.config.layers + 1):
            own = codec.decode(data, k, writer).image.astype(np.int16)
            for reader in (torch_model, onnx_model):
                got = codec.decode(data, k, reader).image.astype(np.int16)
                assert got.shape == own.shape
                diff = np.abs(got - own)
                assert diff.max() <= 1, f"{writer.backend}->{reader.backend} layer {k}"
                shares.append(float((diff > 0).mean()))
    assert max(shares) <= 1e-3, shares
    return shares


@pytest.mark.parametrize(("mode", "codecs", "prediction"), CASES,
                         ids=["-".join((*c, p)) for _, c, p in CASES])
def test_every_latent_codec_interoperates(tmp_path, mode, codecs, prediction) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(mode, (8,) * len(codecs), latent_codecs=codecs,
                                    prediction=prediction))
    export(model, tmp_path / "tiny.pt", settle_steps=100)
    loaded = load_model(str(tmp_path / "tiny.pt"))
    runtime = load_runtime(str(export_onnx(loaded, tmp_path / "onnx")))
    assert (runtime.name, runtime.digest, runtime.config) == (loaded.name, loaded.digest,
                                                               loaded.config)
    interop(loaded, runtime, smooth_image(70, 100, seed=3), tile=64)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_shipped_model_interoperates(name) -> None:
    """Built into the (test) cache on first use, except the shipped exports."""
    interop(load_model(name), open_model(name, "onnx"), golden_source(), tile=64)


@pytest.mark.parametrize("name", sorted(p.name for p in SHIPPED.iterdir()))
def test_shipped_exports_match_their_weights_and_the_exporter(tmp_path, name) -> None:
    raw = (SHIPPED / name / "manifest.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == REGISTRY[name].onnx_manifest
    manifest = json.loads(raw)
    assert manifest["weights_sha256"] == REGISTRY[name].sha256
    rebuilt = (export_onnx(load_model(name), tmp_path / name) / "manifest.json").read_bytes()
    assert rebuilt == raw  # the export is reproducible, byte for byte


def test_defaults_ship_an_export() -> None:
    for mode in ("quality", "spatial"):
        default = next(e.name for e in REGISTRY.values() if e.mode == mode)
        assert (SHIPPED / default / "manifest.json").exists(), default


def test_onnx_decodes_the_sample_well_and_small() -> None:
    """Rate and quality of the default model through the runtime alone (bounds as
    test_shipped's torch rows)."""
    image = load_image(SAMPLE)
    runtime = open_model(None, "onnx")
    data = codec.encode(image, runtime)
    ends = [end for _, end in bitstream.parse(data).byte_ranges]
    values = [psnr(image, codec.decode(data, k, runtime).image) for k in range(1, 5)]
    assert ends[-1] < 27000 and values[-1] > 32.5, (ends, values)
    assert all(b > a for a, b in pairwise(values))


def test_a_decoder_with_other_scales_stops_with_a_clear_error(tmp_path) -> None:
    runtime = open_model("rpn-quality-cond", "onnx")
    data = codec.encode(golden_source(), runtime, 64)
    bias = runtime.level(1).codec.head.consts["levels.1.latent_codec.head.4.bias"]
    bias += 3.0  # every scale index moves
    try:
        with pytest.raises(BitstreamError, match="indices differ from the encoder's"):
            codec.decode(data, 2, runtime)
        assert codec.decode(data, 1, runtime).layers == 1
    finally:
        bias -= 3.0


def test_an_altered_shipped_manifest_is_refused(monkeypatch, tmp_path) -> None:
    import shutil

    from rpncodec.runtime import store

    shipped = tmp_path / "onnx"
    shutil.copytree(SHIPPED / "rpn-quality-cond", shipped / "rpn-quality-cond")
    manifest = shipped / "rpn-quality-cond" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"opset": 17', '"opset": 17 '))
    monkeypatch.setattr(store, "SHIPPED", shipped)
    with pytest.raises(ModelError, match="not the shipped one"):
        load_runtime("rpn-quality-cond")


def test_an_altered_export_is_refused(tmp_path) -> None:
    folder = export_onnx(load_model("rpn-single-cpu-l20"), tmp_path / "x")
    with open(folder / "arrays.bin", "r+b") as f:
        f.seek(100)
        f.write(b"\xff")
    with pytest.raises(ModelError, match="does not match its manifest"):
        load_runtime(str(folder))


def test_an_unwritable_cache_is_one_clear_error(monkeypatch, tmp_path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("RPNCODEC_CACHE", str(blocked))
    with pytest.raises(ModelError, match="set RPNCODEC_CACHE"):
        open_model("rpn-single-cpu-l20", "onnx")


def test_pyramid_matches_torch() -> None:
    from rpncodec.pyramid import downsample2 as torch_downsample2

    for h, w in [(64, 96), (33, 17), (2, 3)]:
        x = torch.rand(1, 3, h, w)
        np.testing.assert_allclose(downsample2(x.numpy()), torch_downsample2(x).numpy(),
                                   atol=2e-6)


def test_the_codec_runs_where_torch_cannot_be_imported(tmp_path) -> None:
    """encode, decode, info and truncate through the command line in a process whose
    ``import torch`` fails (as on a machine without it)."""
    src = tmp_path / "in.png"
    from PIL import Image

    Image.fromarray(golden_source()).save(src)
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from rpncodec.cli import main\n"
        f"a = ['{src}', '-o', '{tmp_path / 'x.rpn'}']\n"
        "assert main(['encode', *a]) == 0\n"
        f"assert main(['decode', '{tmp_path / 'x.rpn'}', '-o', '{tmp_path / 'x.png'}',"
        " '--layers', '2']) == 0\n"
        f"assert main(['info', '{tmp_path / 'x.rpn'}']) == 0\n"
        f"assert main(['truncate', '{tmp_path / 'x.rpn'}', '-o', '{tmp_path / 't.rpn'}',"
        " '--layers', '1']) == 0\n"
        f"assert main(['decode', '{tmp_path / 'x.rpn'}', '-o', '{tmp_path / 'y.png'}',"
        " '--backend', 'torch']) == 1\n"
        "assert 'torch' not in sys.modules or sys.modules['torch'] is None\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "needs PyTorch" in run.stderr
    decoded = load_image(tmp_path / "x.png")
    assert psnr(golden_source(), decoded) > 26
    assert bitstream.parse((tmp_path / "t.rpn").read_bytes()).available == 1


def test_info_and_truncate_import_no_network_runtime(tmp_path) -> None:
    path = tmp_path / "x.rpn"
    path.write_bytes(codec.encode(golden_source(), open_model("rpn-quality-cond", "onnx"), 64))
    script = (
        "import sys\n"
        "from rpncodec.cli import main\n"
        f"assert main(['info', '{path}']) == 0\n"
        f"assert main(['truncate', '{path}', '-o', '{tmp_path / 't.rpn'}', '--layers', '1'])"
        " == 0\n"
        "print(sorted(m for m in ('torch', 'onnxruntime', 'numpy', 'PIL') if m in sys.modules))\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_runtime_holds_numpy_blas_to_one_thread(monkeypatch) -> None:
    """Inside the runtime's float64 work numpy's BLAS runs one thread (idle OpenBLAS threads
    spin and slow the ONNX synthesis that follows); outside, the caller's setting is back."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from rpncodec.runtime.model import one_blas_thread

    def blas_threads() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() != {2}:
            pytest.skip("numpy's BLAS cannot run two threads here")
        with one_blas_thread():
            assert blas_threads() == {1}
        assert blas_threads() == {2}
