"""Run by ``make codec-only`` in a venv holding only ``pip install .``: the codec must
encode, decode every layer, show info and truncate without torch, through the installed
command line, and the decoded sample must be as good as the shipped model promises. The
Python API and the Pillow plugin must give the same bytes and pixels, also without torch."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import rpncodec
from rpncodec.cli import SAMPLE

assert importlib.util.find_spec("torch") is None, "torch is installed: not a codec-only venv"
bin_dir = Path(sys.executable).parent
with tempfile.TemporaryDirectory() as tmp:
    out = Path(tmp)

    def run(*args: str) -> str:
        done = subprocess.run([str(bin_dir / "rpncodec"), *args], capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    for mode, layers in (("quality", 4), ("spatial", 3), ("spatial-quality", 5)):
        run("encode", str(SAMPLE), "-o", str(out / f"{mode}.rpn"), "--mode", mode)
        print(run("info", str(out / f"{mode}.rpn")))
        run("truncate", str(out / f"{mode}.rpn"), "-o", str(out / "t.rpn"), "--layers", "1")
        for k in range(1, layers + 1):
            run("decode", str(out / f"{mode}.rpn"), "-o", str(out / f"{k}.png"),
                "--layers", str(k))
        original = np.asarray(Image.open(SAMPLE).convert("RGB"), dtype=np.float64)
        decoded = np.asarray(Image.open(out / f"{layers}.png"), dtype=np.float64)
        psnr = 10 * np.log10(255**2 / np.mean((original - decoded) ** 2))
        assert psnr > 31, f"{mode}: {psnr:.2f} dB"
        data = (out / f"{mode}.rpn").read_bytes()
        assert rpncodec.encode(SAMPLE, mode=mode) == data, f"{mode}: API encode differs"
        for k in range(1, layers + 1):
            cli_pixels = np.asarray(Image.open(out / f"{k}.png"))
            assert np.array_equal(np.asarray(rpncodec.decode(data, layers=k)), cli_pixels)
            with Image.open(out / f"{mode}.rpn") as im:  # the Pillow plugin
                im.layers = k
                assert np.array_equal(np.asarray(im), cli_pixels), f"{mode}: plugin, {k}"
        print(f"{mode}: {layers} layers decoded without torch, top layer {psnr:.2f} dB")
print(f"rpncodec {rpncodec.__version__}: the codec works without torch")
