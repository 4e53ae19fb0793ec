"""What an int8 synthesis would cost and give: ONNX Runtime static quantization of a model's
synthesis graphs, its PSNR cost per layer and its time against the float32 graphs.

The synthesis feeds no entropy model, so a quantized one would leave files exact and change
only the decoded pixels. Per layer of the model:

1. calibration: the synthesis inputs (the decoded latents) of ``--calibration`` training photos
   (BSDS500 train, never Kodak), from the torch model;
2. quantization (``onnxruntime.quantization.quantize_static``, QDQ, uint8 activations, int8
   per-channel weights, MinMax calibration) of the shipped float32 graph (its float16 weight
   casts folded first), in two variants: ``all`` (every convolution) and ``3x3`` (the
   sub-pixel 3x3 convolutions only; the IGDNs' 1x1 convolutions stay float32);
3. evaluation on a folder (default: Kodak): PSNR of the float32 and int8 outputs against the
   image, and the best of ``--repeats`` session runs of each, interleaved, in this process.

    python bench/int8_synthesis.py --images 6 --json results/speed/int8_synthesis-2026-12-07.json

Run it with nothing else on the machine (times) or with anything (PSNR).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)

from rpncodec import codec
from rpncodec.imageio import list_images, load_image
from rpncodec.registry import WEIGHTS_DIR, default_model
from rpncodec.runtime.images import to_image
from rpncodec.tensors import to_tensor
from rpncodec.utils.evaluate import psnr
from rpncodec.zoo import load_model

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
KODAK, TRAIN = SHARED / "kodak", SHARED / "train" / "bsds500" / "train"


def synthesis_inputs(model, image: np.ndarray) -> list[np.ndarray]:
    """Per layer k, the float32 input of synthesis k for ``image`` (torch model, as decoded)."""
    net = model.model
    x = to_tensor(codec.pad(image, model.pad_multiple))
    with torch.inference_mode():
        strings, _ = net.compress(x)
        sizes = net.level_sizes(net.latent_size(*x.shape[-2:]))
        y_hat: list[torch.Tensor] = []
        for k, level in enumerate(net.levels):
            y_hat.append(level.decompress(strings[k], sizes[k], y_hat[-1] if k else None))
        return [net.synthesis_input(k, y_hat).float().numpy() for k in range(len(y_hat))]


class _Reader(CalibrationDataReader):
    def __init__(self, inputs: list[np.ndarray]) -> None:
        self._it = iter([{"x": x} for x in inputs])

    def get_next(self) -> dict | None:
        return next(self._it, None)


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def quantized(graph: Path, inputs: list[np.ndarray], variant: str, work: Path) -> Path:
    """``graph`` quantized (``variant`` ``all`` or ``3x3``) with ``inputs`` as calibration."""
    folded = work / f"folded-{graph.name}"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    nodes = onnx.load(str(folded)).graph.node
    pointwise = [n.name for n in nodes if n.op_type == "Conv"
                 and next(a.ints for a in n.attribute if a.name == "kernel_shape") == [1, 1]]
    out = work / f"{variant}-{graph.name}"
    quantize_static(str(folded), str(out), _Reader(inputs), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    per_channel=True, op_types_to_quantize=["Conv"],
                    nodes_to_exclude=pointwise if variant == "3x3" else [])
    return out


def best_time(s: ort.InferenceSession, x: np.ndarray, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        s.run(None, {"x": x})
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=default_model(), help="a model with a shipped export")
    p.add_argument("--folder", type=Path, default=KODAK)
    p.add_argument("--images", type=int, default=6, help="first N images of the folder")
    p.add_argument("--calibration", type=int, default=16, help="training photos to calibrate")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the latents)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    if model.config.mode != "quality":
        raise SystemExit("the comparison crops full-size outputs: give a quality model")
    layers = model.config.layers
    photos = list_images(TRAIN)
    calib = [synthesis_inputs(model, load_image(f))
             for f in photos[:: max(1, len(photos) // args.calibration)][: args.calibration]]
    variants = ("all", "3x3")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        graphs = [WEIGHTS_DIR / "onnx" / args.model / f"synthesis{k}.onnx" for k in range(layers)]
        sessions = {"fp32": [session(g) for g in graphs]}
        for v in variants:
            sessions[v] = [session(quantized(g, [c[k] for c in calib], v, Path(tmp)))
                           for k, g in enumerate(graphs)]
        for path in list_images(args.folder)[: args.images]:
            image = load_image(path)
            h, w = image.shape[:2]
            for k, x in enumerate(synthesis_inputs(model, image)):
                row = {"image": path.name, "layer": k + 1}
                for name, per_layer in sessions.items():
                    out = to_image(per_layer[k].run(None, {"x": x})[0])[:h, :w]
                    row[f"psnr/{name}"] = psnr(image, out)
                for _ in range(2):  # interleaved: both see the same machine
                    for name, per_layer in sessions.items():
                        t = best_time(per_layer[k], x, args.repeats)
                        row[f"s/{name}"] = min(row.get(f"s/{name}", t), t)
                rows.append(row)
    summary = []
    print("| layer | float32 dB | " + " | ".join(f"int8 {v} dB (cost)" for v in variants)
          + " | float32 ms | " + " | ".join(f"int8 {v} ms" for v in variants) + " |")
    print("|---" * (2 + 2 * len(variants) + 1) + "|")
    for k in range(1, layers + 1):
        mine = [r for r in rows if r["layer"] == k]
        mean = {key: float(np.mean([r[key] for r in mine])) for key in mine[0] if "/" in key}
        summary.append({"layer": k, **mean})
        costs = " | ".join(f"{mean[f'psnr/{v}']:.3f} ({mean[f'psnr/{v}'] - mean['psnr/fp32']:+.3f})"
                           for v in variants)
        times = " | ".join(f"{1000 * mean[f's/{v}']:.1f}" for v in variants)
        print(f"| {k} | {mean['psnr/fp32']:.3f} | {costs} | {1000 * mean['s/fp32']:.1f} | "
              f"{times} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "model": args.model, "images": args.images, "folder": str(args.folder),
            "calibration": len(calib), "ort": ort.__version__, "machine": platform.processor()
            or platform.machine(), "cores": os.cpu_count(),
            "per_layer": summary, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
