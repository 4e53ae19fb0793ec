"""Golden files: every shipped model still writes the committed bytes and decodes them to the
committed pixels (``scripts/make_golden.py`` made them; rerun it only for a meant change).

Bytes must match exactly: the integer entropy tables are part of the weights, so the coded
symbols do not depend on the CPU. Decoded pixels may differ by one level where float kernels
differ between CPUs (measured here: with oneDNN limited to SSE4.1 instead of AVX-512, 1 pixel
value in 18,432 of three layers moved by 1), so the bound is: at most 1 level, in at most
0.1% of the values; on the machine that made them they are identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rpncodec import bitstream, codec
from rpncodec.backend import BACKENDS, open_model
from rpncodec.registry import REGISTRY
from rpncodec.utils.testing import flat_source, golden_source, golden_tools

GOLDEN = Path(__file__).parent / "golden"
INDEX = json.loads((GOLDEN / "index.json").read_text())
PIXELS = np.load(GOLDEN / "pixels.npz")


def test_every_shipped_model_has_a_golden_file() -> None:
    assert sorted(INDEX) == sorted(REGISTRY)


EXACT = GOLDEN / "exact-colours"
RESIDUAL = GOLDEN / "residual-layers"
FLAT = {EXACT: 5, RESIDUAL: 6}  # the folders of flat_source's files, and their versions
GOLDEN_FILES = [(GOLDEN, name) for name in sorted(INDEX)] + [
    (folder, name) for folder in FLAT
    for name in sorted(json.loads((folder / "index.json").read_text()))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("folder", "name"), GOLDEN_FILES,
                         ids=[f"{f.name}/{n}" for f, n in GOLDEN_FILES])
def test_shipped_model_writes_and_decodes_its_golden_file(folder: Path, name: str,
                                                          backend: str) -> None:
    """Both backends decode the recorded pixels; the torch encoder writes the recorded bytes
    (the onnx encoder's analyses are other float kernels: its bytes may differ, and decode
    within one level, tests/test_runtime.py). ``exact-colours/`` holds version-5 files of
    :func:`flat_source` (exact colours, and colour corrections in layer 4),
    ``residual-layers/`` version-6 ones (the same image, its top layer a residual layer); the
    others pin the learned layers alone (no exact colours: version 3)."""
    golden = (folder / f"{name}.rpn").read_bytes()
    flat = folder in FLAT
    source = flat_source() if flat else golden_source()
    pixels = np.load(folder / "pixels.npz") if flat else PIXELS
    assert golden[4] == FLAT.get(folder, 3)
    loaded = open_model(name, backend)
    header = bitstream.parse(golden).header
    if backend == "torch":
        assert codec.encode(source, loaded, header.tile, **golden_tools(folder.name)) == golden
    for k in range(1, header.layers + 1):
        decoded = codec.decode(golden, k, loaded).image.astype(np.int16)
        expected = pixels[f"{name}/{k}"].astype(np.int16)
        assert decoded.shape == expected.shape
        diff = np.abs(decoded - expected)
        assert diff.max() <= 1, f"{name} layer {k}: pixels moved by {diff.max()}"
        assert (diff > 0).mean() <= 1e-3, f"{name} layer {k}: {(diff > 0).mean():.2%} differ"


@pytest.mark.parametrize("name", ["rpn-quality-cond", "rpn-spatial-cond"])
def test_version_2_files_still_decode(name: str) -> None:
    """``golden/version2/`` holds files written in format version 2 (no layer shift bytes):
    the same layer chunks as today's golden files, and every layer decodes to the same pixels,
    at the same size (a cut spatial file too, from its model's level count)."""
    old = (GOLDEN / "version2" / f"{name}.rpn").read_bytes()
    new = (GOLDEN / f"{name}.rpn").read_bytes()
    assert old[4] == 2 and new[4] == bitstream.FORMAT_VERSION == 3
    assert bitstream.parse(old).chunks == bitstream.parse(new).chunks
    assert bitstream.parse(old).header.shifts == bitstream.parse(new).header.shifts
    loaded = open_model(name, "onnx")
    for k in range(1, bitstream.parse(old).header.layers + 1):
        assert np.array_equal(codec.decode(old, k, loaded).image,
                              codec.decode(new, k, loaded).image)
    cut = bitstream.truncate(old, 1)
    assert cut[4] == 3
    assert codec.decode(cut, None, loaded).image.shape == PIXELS[f"{name}/1"].shape
