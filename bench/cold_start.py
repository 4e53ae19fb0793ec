"""Whole-process times, as a user runs the command line, for both backends, against Pillow's
JPEG 2000 decoder in a fresh process measured in the same run; and the in-process time of the
same decodes (what the networks and coding take once everything is loaded).

Per image of a folder (default: Kodak; the bundled sample with ``--quick``) and per backend
(``onnx``, ``torch``), each command is a new process, timed from start to exit:

- ``rpncodec decode x.rpn -o x.png --layers k`` for every layer k of the default model;
- ``rpncodec encode image.png -o x.rpn`` (all layers); ``rpncodec info x.rpn``;
- JPEG 2000: ``python -c`` opening and decoding the image's layered OpenJPEG file
  (irreversible 9/7, ``mct=1``, layers at the .rpn file's cumulative layer rates) with Pillow,
  alone and followed by the same PNG writer rpncodec uses (zlib level 1).

In-process: the same ``codec.decode`` per layer, after a warm-up, in a process of its own per
backend.
Times are the median over images of the best of ``--repeats`` runs. The package's modules are
byte-compiled first, as ``pip install`` does (where PYTHONDONTWRITEBYTECODE is set, as on this
project's machine, every command would otherwise compile them from source: about 30 ms). Run
it with nothing else on the machine:

    python bench/cold_start.py                 # Kodak at ../shared/data/kodak
    python bench/cold_start.py --quick         # the bundled sample only
    python bench/cold_start.py --images 6 --json results/speed/cold_start.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the command line (rpncodec.console)

import argparse
import compileall
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rpncodec
from rpncodec import bitstream
from rpncodec.cli import SAMPLE
from rpncodec.imageio import list_images, load_image
from rpncodec.registry import default_model
from rpncodec.utils.anchors import j2k_encode

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"
BIN = Path(sys.executable).parent
J2K_DECODE = "from PIL import Image; Image.open({path!r}).load()"
J2K_DECODE_PNG = ("from PIL import Image; from rpncodec.imageio import save_image; "
                  "import numpy as np; save_image(np.asarray(Image.open({path!r}).convert('RGB')),"
                  " {out!r})")


def timed(command: list[str], repeats: int) -> float:
    """Best wall time of ``command`` as a new process (it must succeed)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t0)
        if done.returncode:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return best


IN_PROCESS = """
import json, sys, time
from rpncodec import codec
from rpncodec.backend import open_model
data = open(sys.argv[1], "rb").read()
model = open_model(None, sys.argv[2])
out = []
for k in range(1, int(sys.argv[3]) + 1):
    codec.decode(data, k, model)  # warm-up: sessions, caches, first-run set-up
    best = float("inf")
    for _ in range(int(sys.argv[4])):
        t0 = time.perf_counter()
        codec.decode(data, k, model)
        best = min(best, time.perf_counter() - t0)
    out.append(best)
print(json.dumps(out))
"""


def in_process(rpn: Path, backend: str, layers: int, repeats: int) -> list[float]:
    """Per layer, the best in-process decode time on ``backend``, in a process of its own
    (one backend per process: ONNX Runtime's and torch's thread pools would compete)."""
    done = subprocess.run([str(BIN / "python"), "-c", IN_PROCESS, str(rpn), backend,
                           str(layers), str(repeats)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(image_path: Path, work: Path, repeats: int) -> dict[str, float]:
    rpn = work / "x.rpn"
    cli = [str(BIN / "rpncodec")]
    out: dict[str, float] = {}
    subprocess.run([*cli, "encode", str(image_path), "-o", str(rpn)], check=True,
                   capture_output=True)
    data = rpn.read_bytes()
    container = bitstream.parse(data)
    layers = container.header.layers
    for backend in ("onnx", "torch"):
        b = ["--backend", backend]
        out[f"encode/{backend}"] = timed([*cli, "encode", str(image_path), "-o",
                                          str(work / "y.rpn"), *b], repeats)
        for k in range(1, layers + 1):
            out[f"decode{k}/{backend}"] = timed([*cli, "decode", str(rpn), "-o",
                                                 str(work / "x.png"), "--layers", str(k), *b],
                                                repeats)
        for k, seconds in enumerate(in_process(rpn, backend, layers, repeats), 1):
            out[f"in-process{k}/{backend}"] = seconds
    out["info"] = timed([*cli, "info", str(rpn)], repeats)
    image = load_image(image_path)
    pixels = image.shape[0] * image.shape[1]
    bpp = [8 * end / pixels for _, end in container.byte_ranges]
    jp2 = work / "x.j2k"
    jp2.write_bytes(j2k_encode(image, bpp))
    py = str(BIN / "python")
    out["j2k-decode"] = timed([py, "-c", J2K_DECODE.format(path=str(jp2))], repeats)
    out["j2k-decode+png"] = timed([py, "-c", J2K_DECODE_PNG.format(
        path=str(jp2), out=str(work / "j.png"))], repeats)
    for k in range(1, layers + 1):  # OpenJPEG in process, a file of layer k's bytes
        out[f"j2k-in-process{k}"] = j2k_in_process(j2k_encode(image, bpp[:k]), repeats)
    return out


def j2k_in_process(data: bytes, repeats: int) -> float:
    """Best time of Pillow/OpenJPEG decoding ``data`` in this process (after a warm-up)."""
    import io

    from PIL import Image

    Image.open(io.BytesIO(data)).load()
    best = float("inf")
    for _ in range(max(repeats, 3)):
        t0 = time.perf_counter()
        Image.open(io.BytesIO(data)).load()
        best = min(best, time.perf_counter() - t0)
    return best


def table(results: list[dict[str, float]], layers: int) -> str:
    def med(key: str) -> str:
        return f"{statistics.median(r[key] for r in results):.3f}"

    rows = ["| whole process (s) | onnx | torch |", "|---|---|---|"]
    for k in range(1, layers + 1):
        rows.append(f"| `decode --layers {k}` | {med(f'decode{k}/onnx')} | "
                    f"{med(f'decode{k}/torch')} |")
    rows.append(f"| `encode` (all layers) | {med('encode/onnx')} | {med('encode/torch')} |")
    rows.append(f"| `info` | {med('info')} | (no network) |")
    rows.append(f"| JPEG 2000 decode, Pillow, fresh process | {med('j2k-decode')} | |")
    rows.append(f"| JPEG 2000 decode + PNG write, fresh process | {med('j2k-decode+png')} | |")
    rows += ["", "| in-process decode (s) | onnx | torch | OpenJPEG, same bytes | onnx / "
             "OpenJPEG |", "|---|---|---|---|---|"]
    for k in range(1, layers + 1):
        ratio = statistics.median(r[f"in-process{k}/onnx"] / r[f"j2k-in-process{k}"]
                                  for r in results)
        rows.append(f"| layer {k} | {med(f'in-process{k}/onnx')} | "
                    f"{med(f'in-process{k}/torch')} | {med(f'j2k-in-process{k}')} | "
                    f"{ratio:.1f}x |")
    rows += ["", "| whole process, onnx / (JPEG 2000 decode + PNG write) | ratio |", "|---|---|"]
    for k in range(1, layers + 1):
        ratio = statistics.median(r[f"decode{k}/onnx"] / r["j2k-decode+png"] for r in results)
        rows.append(f"| `decode --layers {k}` | {ratio:.1f}x |")
    return "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", type=Path, default=KODAK)
    p.add_argument("--quick", action="store_true", help="the bundled sample only")
    p.add_argument("--images", type=int, default=6, help="first N images of the folder")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.quick:
        images = [SAMPLE]
    elif args.folder.is_dir():
        images = list_images(args.folder)[: args.images]
    else:
        raise SystemExit(f"{args.folder} not found (use --quick for the bundled sample)")
    compileall.compile_dir(Path(rpncodec.__file__).parent, quiet=1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in images:
            results.append(measure(path, Path(tmp), args.repeats))
            print(f"{path.name}: " + ", ".join(f"{k} {v:.3f}" for k, v in
                                               results[-1].items()), file=sys.stderr)
    layers = sum(key.startswith("decode") and key.endswith("/onnx") for key in results[0])
    print(f"# {len(images)} image(s), model {default_model()}, {platform.processor() or ''} "
          f"{os.cpu_count()} cores")
    print(table(results, layers))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"images": [p.name for p in images],
                                         "machine": platform.platform(),
                                         "cores": os.cpu_count(), "results": results},
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
