"""Determinism: the same bytes and the same pixels across thread counts and processes, on both
backends (torch, and ONNX Runtime + numpy).

What this guarantees, and why (see docs/reliability.md): the entropy tables are integers stored
with the weights, so the entropy decoder reads exactly the symbols that were written on any
machine. The predictions and syntheses are float network outputs; on one machine (this CPU
build of torch) they are bit-identical whatever the thread count, which these tests check.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from rpncodec import codec
from rpncodec.onnx_export import export_onnx
from rpncodec.runtime.store import load_runtime
from rpncodec.utils.testing import smooth_image
from rpncodec.zoo import load_model

SIZE = (96, 160)  # two tiles of 128 (the second partial): tiling is part of what must agree


@contextmanager
def threads(n: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return smooth_image(*SIZE, seed=11)


@pytest.fixture(scope="module")
def one_thread_file(tiny, image) -> bytes:
    with threads(1):
        return codec.encode(image, tiny, tile=128)


def test_encoding_with_two_threads_writes_the_same_bytes(tiny, image, one_thread_file) -> None:
    with threads(2):
        assert codec.encode(image, tiny, tile=128) == one_thread_file


def test_decoding_with_one_or_two_threads_gives_identical_pixels(tiny, one_thread_file) -> None:
    for layers in (1, 4):
        with threads(1):
            a = codec.decode(one_thread_file, layers, tiny).image
        with threads(2):
            b = codec.decode(one_thread_file, layers, tiny).image
        assert np.array_equal(a, b), layers


def _run(script: str, *args: str, n_threads: int) -> None:
    env = dict(os.environ, OMP_NUM_THREADS=str(n_threads))
    code = f"import torch; torch.set_num_threads({n_threads}); {script}"
    subprocess.run([sys.executable, "-c", code, *args], check=True, env=env, timeout=300)


DECODE = ("import sys, numpy as np; from rpncodec import codec; "
          "d = codec.decode(open(sys.argv[1], 'rb').read(), None, sys.argv[2], None, "
          "sys.argv[4]); "
          "np.save(sys.argv[3], d.image)")
ENCODE = ("import sys, numpy as np; from rpncodec import codec; "
          "from rpncodec.zoo import load_model; "
          "data = codec.encode(np.load(sys.argv[1]), load_model(sys.argv[2]), 128); "
          "open(sys.argv[3], 'wb').write(data)")


def test_another_process_with_two_threads_decodes_identical_pixels(tiny, tiny_model_path,
                                                                   one_thread_file, tmp_path):
    path, out = tmp_path / "a.rpn", tmp_path / "a.npy"
    path.write_bytes(one_thread_file)
    _run(DECODE, str(path), tiny_model_path, str(out), "torch", n_threads=2)
    with threads(1):
        here = codec.decode(one_thread_file, None, tiny).image
    assert np.array_equal(np.load(out), here)


def test_a_file_encoded_in_another_process_decodes_identically_here(tiny, tiny_model_path, image,
                                                                    one_thread_file, tmp_path):
    source, path = tmp_path / "image.npy", tmp_path / "b.rpn"
    np.save(source, image)
    _run(ENCODE, str(source), tiny_model_path, str(path), n_threads=2)
    assert path.read_bytes() == one_thread_file
    with threads(2):
        there = codec.decode(path.read_bytes(), None, tiny).image
    with threads(1):
        here = codec.decode(one_thread_file, None, tiny).image
    assert np.array_equal(there, here)


# -- the onnx backend ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runtimes(tiny_model_path) -> dict[int, object]:
    folder = export_onnx(load_model(tiny_model_path), Path(tiny_model_path).parent / "onnx")
    return {n: load_runtime(str(folder), threads=n) for n in (1, 2)}


def test_onnx_threads_write_the_same_bytes_and_pixels(runtimes, image) -> None:
    one, two = (codec.encode(image, runtimes[n], tile=128) for n in (1, 2))
    assert one == two
    for layers in (1, 4):
        a, b = (codec.decode(one, layers, runtimes[n]).image for n in (1, 2))
        assert np.array_equal(a, b), layers


def test_onnx_in_another_process_decodes_identical_pixels(runtimes, image, tmp_path) -> None:
    data = codec.encode(image, runtimes[1], tile=128)
    path, out = tmp_path / "c.rpn", tmp_path / "c.npy"
    path.write_bytes(data)
    _run(DECODE, str(path), str(runtimes[1].folder), str(out), "onnx", n_threads=2)
    assert np.array_equal(np.load(out), codec.decode(data, None, runtimes[2]).image)
