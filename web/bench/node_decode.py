"""The browser decode engine (web/) in Node: decode time per layer and its parts, and sizes.

Encodes the bundled sample (rpncodec/samples/kodim23.png) and a Kodak image (default
kodim05 of ../shared/data/kodak) with the default model of each mode, writes the models'
browser files (``scripts/web_export.py models``), and runs ``web/bench/decode.mjs`` on each
file: per layer the first decode in a fresh process ("cold": model files read and checked,
networks folded, onnxruntime-web sessions created) and the best of the later ones ("warm"),
split into entropy decoding, the float64 networks (the TypeScript interpreter) and the
synthesis (onnxruntime-web, wasm, one thread). The Python onnx backend's in-process decode of
the same layer (best of 3) is printed beside it. Sizes: the bundle (``web/dist/rpncodec.mjs``),
onnxruntime-web's files, and per layer the model bytes a decode of that layer fetches, raw
and gzipped.

    make web && python web/bench/node_decode.py --pause /tmp/trainer.pid --pause /tmp/trainer2.pid
    python web/bench/node_decode.py --json web/bench/node_decode-2026-12-07.json

``--pause PIDFILE`` stops those processes (SIGSTOP) while each file is measured (under a
minute) and always resumes them (SIGCONT), also on failure or interrupt.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
sys.path.insert(0, str(ROOT / "scripts"))

import web_export  # noqa: E402

from rpncodec import codec  # noqa: E402
from rpncodec.api import encode  # noqa: E402
from rpncodec.files import atomic_write_bytes  # noqa: E402
from rpncodec.imageio import load_image  # noqa: E402

SAMPLE = ROOT / "rpncodec" / "samples" / "kodim23.png"
KODAK = ROOT.parent / "shared" / "data" / "kodak"
MODELS = ("rpn-quality-cond", "rpn-spatial-cond")
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


@contextmanager
def paused(pidfiles: list[Path]):
    """SIGSTOP the processes named in ``pidfiles`` (those that exist), SIGCONT them after."""
    pids = []
    for f in pidfiles:
        try:
            pids.append(int(f.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    stopped = []
    try:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            except OSError:
                pass
        yield
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass


def sizes(path: Path) -> dict:
    data = path.read_bytes()
    return {"bytes": len(data), "gzip_bytes": len(gzip.compress(data, 9, mtime=0))}


def model_download(folder: Path) -> list[dict]:
    """Per layer k: the model files a decode of k layers fetches (model.json, levels 1..k,
    synthesis k), raw and gzipped (as WebModel.bytesFor)."""
    desc = json.loads((folder / "model.json").read_text())
    own = sizes(folder / "model.json")
    out = []
    for k in range(1, len(desc["levels"]) + 1):
        names = [f for level in desc["levels"][:k] for f in (level["files"]["graphs"],
                                                             level["files"]["arrays"])]
        names.append(desc["levels"][k - 1]["files"]["synthesis"])
        out.append({"layer": k,
                    "bytes": own["bytes"] + sum(desc["files"][n]["bytes"] for n in names),
                    "gzip_bytes": own["gzip_bytes"] + sum(desc["files"][n]["gzip_bytes"]
                                                          for n in names)})
    return out


def python_ms(data: bytes, model: str, layers: int) -> list[float]:
    """Best of 3 in-process decodes of each layer with the onnx backend (after a warm-up)."""
    out = []
    for k in range(1, layers + 1):
        codec.decode(data, k, model, backend="onnx")
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            codec.decode(data, k, model, backend="onnx")
            best = min(best, time.perf_counter() - start)
        out.append(best * 1e3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kodak", type=Path, default=KODAK / "kodim05.png")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pause", type=Path, action="append", default=[],
                        help="pid file of a process to pause while measuring (repeatable)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    bundle = WEB / "dist" / "rpncodec.mjs"
    if not bundle.is_file():
        sys.exit("web/dist/rpncodec.mjs is missing: run `make web` first")
    ort_dir = WEB / "node_modules" / "onnxruntime-web" / "dist"
    results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor()
                     or platform.machine(), "cpus": os.cpu_count(),
                     "node": subprocess.run(["node", "--version"], capture_output=True,
                                            text=True).stdout.strip(),
                     "threads": args.threads, "repeats": args.repeats,
                     "bundle": sizes(bundle),
                     "onnxruntime_web": {f: sizes(ort_dir / f) for f in ORT_FILES},
                     "models": {}, "files": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for model in MODELS:
            folder = web_export.export_web_model(model, tmp / "models")
            results["models"][model] = model_download(folder)
        for image_path in (SAMPLE, args.kodak):
            image = load_image(image_path)
            for model in MODELS:
                data = encode(image, model=model)
                rpn = tmp / f"{image_path.stem}-{model}.rpn"
                atomic_write_bytes(rpn, data)
                with paused(args.pause):
                    run = subprocess.run(["node", "bench/decode.mjs", str(tmp / "models"),
                                          str(rpn), "--repeats", str(args.repeats),
                                          "--threads", str(args.threads)], cwd=WEB,
                                         capture_output=True, text=True, timeout=600)
                    if run.returncode:
                        sys.exit(run.stderr[-2000:])
                    node = json.loads(run.stdout)
                    python = python_ms(data, model, len(node["warm"]))
                results["files"].append({"image": image_path.name, "model": model,
                                         "file_bytes": len(data), "cold": node["cold"],
                                         "warm": node["warm"], "python_onnx_ms": python})
    print(f"bundle {results['bundle']['bytes']} B ({results['bundle']['gzip_bytes']} gzipped)")
    for f, s in results["onnxruntime_web"].items():
        print(f"{f} {s['bytes']} B ({s['gzip_bytes']} gzipped)")
    for model, per_layer in results["models"].items():
        print(model, " ".join(f"L{r['layer']}: {r['bytes'] / 1e6:.2f} MB "
                              f"({r['gzip_bytes'] / 1e6:.2f} gz)" for r in per_layer))
    print("| image | model | layer | size | bytes | cold ms | warm ms | entropy | networks "
          "(f64) | synthesis | Python onnx ms |")
    for f in results["files"]:
        for cold, warm, py in zip(f["cold"], f["warm"], f["python_onnx_ms"], strict=True):
            print(f"| {f['image']} | {f['model']} | {warm['layer']} | {warm['width']}x"
                  f"{warm['height']} | {warm['bytes']} | {cold['ms']:.0f} | {warm['ms']:.0f} | "
                  f"{warm['entropyMs']:.0f} | {warm['graphsMs']:.0f} | {warm['synthesisMs']:.0f}"
                  f" | {py:.0f} |")
    if args.json:
        atomic_write_bytes(args.json, (json.dumps(results, indent=1) + "\n").encode())


if __name__ == "__main__":
    main()
