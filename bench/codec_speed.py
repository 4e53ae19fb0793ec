"""Encode/decode speed of the shipped models, the single-layer baseline and OpenJPEG, per layer.

For every shipped quality and spatial model, on every image of a folder (default: Kodak), per
layer k:
- encode time (coding the first k layers: analyses, predictions and entropy coding of levels
  1..k; k = all is a full ``codec.encode``-equivalent encode) and decode time (a real
  ``codec.decode`` of the k-layer prefix of the file), and megapixels per second of each;
- peak memory of the process during the operation (Linux VmHWM, reset before it: weights,
  libraries and the operation's buffers; on CUDA the peak of allocated GPU memory); the JSON
  also has what the peak adds over the memory in use before (a lower bound, since the C
  allocator keeps freed buffers);
- the share of the time spent in entropy coding (the ``compress``/``decompress`` of every
  density's coder, :class:`EntropyBottleneck` and :class:`GaussianConditional`: rounding,
  table look-ups, index maps and ANS coding);
- the network's multiply-accumulates (counted by ``torch.utils.flop_counter.FlopCounterMode``:
  convolutions, transposed convolutions, matrix products) per second, divided by the fp32
  matrix-multiply throughput measured in the same run: the utilisation of what this machine's
  cores can do at best.
A spatial model's layer k is measured at its own resolution (bpp over the full image's pixels,
PSNR against the pyramid level). The single-layer baseline is level 1 of each quality model
run as a one-level model (same network cost as a single-layer model of that width). OpenJPEG
(Pillow, irreversible 9/7, ``mct=1``) codes each image as one layered codestream at the first
quality model's per-image layer rates.

Times are the best of ``--repeats`` runs per image (after one warm-up run, which also measures
memory), averaged over images. Run it with nothing else on the machine:

    python bench/codec_speed.py                      # Kodak at ../shared/data/kodak
    python bench/codec_speed.py --quick              # the bundled sample only
    python bench/codec_speed.py --folder DIR --json results/speed/codec_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from rpncodec import bitstream, codec
from rpncodec.entropy.factorized import EntropyBottleneck
from rpncodec.entropy.gaussian import GaussianConditional
from rpncodec.imageio import atomic_write_bytes, list_images, load_image
from rpncodec.layers import crcm
from rpncodec.models import ModelConfig, build_model
from rpncodec.pyramid import layer_references
from rpncodec.tensors import to_tensor
from rpncodec.utils.anchors import j2k_decode, j2k_encode
from rpncodec.utils.evaluate import psnr
from rpncodec.zoo import REGISTRY, LoadedModel, load_model

REPO = Path(__file__).resolve().parents[1]
KODAK = REPO.parent / "shared" / "data" / "kodak"
SAMPLE = REPO / "rpncodec" / "samples" / "kodim23.png"


# -- measurement helpers ---------------------------------------------------------------------
def matmul_gflops(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """Best fp32 ``n x n`` matrix-multiply throughput (GFLOP/s) with the current threads."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Memory:
    """Peak memory during an operation: process VmHWM on the CPU (reset through
    /proc/self/clear_refs), allocator peak on CUDA. ``None`` where it cannot be measured."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    @staticmethod
    def _status_mb(field: str) -> float | None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def measure(self, fn: Callable[[], object]) -> tuple[float | None, float | None]:
        """Run ``fn``; return (peak MB during it, MB it added over what was in use before)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            before = torch.cuda.memory_allocated(self.device) / 2**20
            torch.cuda.reset_peak_memory_stats(self.device)
            fn()
            peak = torch.cuda.max_memory_allocated(self.device) / 2**20
            return peak, peak - before
        before = self._status_mb("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        except OSError:
            fn()
            return None, None
        fn()
        peak = self._status_mb("VmHWM")
        if peak is None or before is None:
            return None, None
        return peak, max(peak - before, 0.0)


class EntropyTimer:
    """Accumulates the time spent in entropy coding while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def installed(self) -> Iterator[EntropyTimer]:
        coders = (EntropyBottleneck, GaussianConditional)
        originals = [(c, c.compress, c.decompress) for c in coders]

        def timed(fn):
            def wrapper(*args, **kwargs):
                t0 = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - t0
            return wrapper

        for coder, compress, decompress in originals:
            coder.compress, coder.decompress = timed(compress), timed(decompress)
        try:
            yield self
        finally:
            for coder, compress, decompress in originals:
                coder.compress, coder.decompress = compress, decompress


def count_macs(fn: Callable[[], object]) -> int:
    """Multiply-accumulates of the tensor operations ``fn`` runs (FLOP counter / 2), counted
    on the network as designed: the sub-pixel form of the last synthesis layer does ~44% more
    (zero) multiplications than the transposed conv it replaces, so it is switched off here."""
    method, crcm.NARROW_METHOD = crcm.NARROW_METHOD, "direct"
    try:
        with FlopCounterMode(display=False) as counter:
            fn()
    finally:
        crcm.NARROW_METHOD = method
    return counter.get_total_flops() // 2


def timed_runs(fn: Callable[[], object], repeats: int, device: torch.device,
               memory: Memory) -> dict:
    """One warm-up run (measuring memory), then ``repeats`` timed runs with the entropy-coding
    time of each; returns the best run's time and entropy share, and the memory."""
    peak, added = memory.measure(fn)
    best, best_ec = float("inf"), 0.0
    for _ in range(repeats):
        timer = EntropyTimer()
        with timer.installed():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            seconds = time.perf_counter() - t0
        if seconds < best:
            best, best_ec = seconds, timer.seconds
    return {"seconds": best, "entropy_share": best_ec / best, "peak_mb": peak,
            "added_mb": added}


# -- what is measured --------------------------------------------------------------------------
def single_layer_baseline(loaded: LoadedModel) -> LoadedModel:
    """Level 1 of a quality model as a one-level ("single" mode) model with the same weights."""
    w = loaded.config.widths[0]
    single = build_model(ModelConfig("single", (w,), loaded.config.mask_axis,
                                     loaded.config.latent_codecs[:1]))
    single.levels[0].load_state_dict(loaded.model.levels[0].state_dict())
    single.eval().requires_grad_(False).to(loaded.device)
    return LoadedModel(f"{loaded.name}-level1", loaded.digest, single)


def encode_layers(image: np.ndarray, loaded: LoadedModel, layers: int) -> list[bytes]:
    """What an encoder of the first ``layers`` layers runs (one tile; no reconstruction)."""
    x = to_tensor(codec.pad(image, loaded.model.pad_multiple)).to(loaded.device)
    with torch.inference_mode():
        strings, _ = loaded.model.compress(x, layers=layers, reconstruct=False)
    return strings


def measure_model(loaded: LoadedModel, images: list[tuple[str, np.ndarray]], repeats: int,
                  device: torch.device, memory: Memory) -> list[dict]:
    """Per image and layer: encode and decode measurements of one model."""
    rows: list[dict] = []
    macs: dict[tuple[int, int, int], tuple[int, int]] = {}  # MACs depend only on size, layers
    for name, image in images:
        rows += _measure_image(loaded, name, image, repeats, device, memory, macs)
    return rows


def _measure_image(loaded: LoadedModel, name: str, image: np.ndarray, repeats: int,
                   device: torch.device, memory: Memory, macs: dict) -> list[dict]:
    net, rows = loaded.model, []
    h, w = image.shape[:2]
    data = codec.encode(image, loaded)
    container = bitstream.parse(data)
    reference = layer_references(image, container.header.shifts)
    for k in range(1, container.header.layers + 1):
        size = (h, w, k)
        if size not in macs:
            x = to_tensor(codec.pad(image, loaded.model.pad_multiple)).to(loaded.device)
            strings, _ = net.compress(x, layers=k, reconstruct=False)
            latent = net.latent_size(h, w)
            macs[size] = (
                count_macs(lambda: net.compress(x, layers=k, reconstruct=False)),  # noqa: B023
                count_macs(lambda: net.decompress(strings, latent, k)))  # noqa: B023
        enc = timed_runs(lambda: encode_layers(image, loaded, k), repeats, device,  # noqa: B023
                         memory)
        dec = timed_runs(lambda: codec.decode(data, k, loaded), repeats, device,  # noqa: B023
                         memory)
        decoded = codec.decode(data, k, loaded).image
        rows.append({"model": loaded.name, "image": name, "layer": k, "pixels": h * w,
                     "bpp": 8 * bitstream.prefix_size(container, k) / (h * w),
                     "psnr": psnr(reference[k - 1], decoded), "encode": enc, "decode": dec,
                     "encode_macs": macs[size][0], "decode_macs": macs[size][1]})
    return rows


def measure_openjpeg(images: list[tuple[str, np.ndarray]], rates: dict[str, list[float]],
                     repeats: int, memory: Memory) -> list[dict]:
    """OpenJPEG (Pillow): one layered codestream per image at the given cumulative rates;
    encode time is the whole layered encode, decode time per number of layers."""
    rows, cpu = [], torch.device("cpu")
    for name, image in images:
        h, w = image.shape[:2]
        bpps = rates[name]
        data = j2k_encode(image, bpps)
        enc = timed_runs(lambda bpps=bpps, image=image: j2k_encode(image, bpps), repeats, cpu,
                         memory)
        for k in range(1, len(bpps) + 1):
            dec = timed_runs(lambda k=k, data=data: j2k_decode(data, k), repeats, cpu, memory)
            rows.append({"model": "openjpeg", "image": name, "layer": k, "pixels": h * w,
                         "bpp": bpps[k - 1], "psnr": psnr(image, j2k_decode(data, k)),
                         "encode": enc, "decode": dec, "encode_macs": None, "decode_macs": None})
    return rows


# -- summary -----------------------------------------------------------------------------------
def summarize(rows: list[dict], matmul: float) -> list[dict]:
    """Mean over images per (model, layer); utilisation = network MAC rate / matmul rate."""
    out = []
    keys = list(dict.fromkeys((r["model"], r["layer"]) for r in rows))
    for model, layer in keys:
        group = [r for r in rows if r["model"] == model and r["layer"] == layer]

        def mean(values: list) -> float | None:
            values = [v for v in values if v is not None]
            return float(np.mean(values)) if values else None

        entry = {"model": model, "layer": layer, "images": len(group),
                 "bpp": mean([r["bpp"] for r in group]), "psnr": mean([r["psnr"] for r in group])}
        for op in ("encode", "decode"):
            seconds = mean([r[op]["seconds"] for r in group])
            macs = mean([r[f"{op}_macs"] for r in group])
            pixels = mean([r["pixels"] for r in group])
            entry[op] = {
                "seconds": seconds,
                "megapixels_per_s": pixels / seconds / 1e6,
                "peak_mb": mean([r[op]["peak_mb"] for r in group]),
                "added_mb": mean([r[op]["added_mb"] for r in group]),
                "entropy_share": mean([r[op]["entropy_share"] for r in group]),
                "gmacs": None if macs is None else macs / 1e9,
                "utilisation": None if macs is None else 2 * macs / seconds / 1e9 / matmul,
            }
        out.append(entry)
    return out


def format_table(summary: list[dict]) -> str:
    def f(v: float | None, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    lines = [f"{'model':<24} {'layer':>5} {'bpp':>5} {'PSNR':>6}"
             + f" | {'enc s':>6} {'MP/s':>5} {'peakMB':>6} {'EC%':>5} {'GMAC':>5} {'util':>4}"
             + f" | {'dec s':>6} {'MP/s':>5} {'peakMB':>6} {'EC%':>5} {'GMAC':>5} {'util':>4}"]
    for e in summary:
        cells = [f"{e['model']:<24} {e['layer']:>5} {e['bpp']:.3f} {e['psnr']:6.2f}"]
        for op in ("encode", "decode"):
            m = e[op]
            share = None if m["entropy_share"] is None else 100 * m["entropy_share"]
            cells.append(f"{m['seconds']:6.3f} {m['megapixels_per_s']:5.2f} "
                         f"{f(m['peak_mb'], '6.0f'):>6} {f(share, '5.1f'):>5} "
                         f"{f(m['gmacs'], '5.1f'):>5} {f(m['utilisation'], '4.2f'):>4}")
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def machine(device: torch.device, threads: int) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "device": str(device),
            "torch": torch.__version__, "python": platform.python_version()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=KODAK,
                    help=f"images to code (default {KODAK})")
    ap.add_argument("--quick", action="store_true",
                    help="only the bundled sample (kodim23, 768x512)")
    ap.add_argument("--images", type=int, help="use only the first N images of the folder")
    ap.add_argument("--models", nargs="+",
                    default=[e.name for e in REGISTRY.values() if e.mode != "single"],
                    help="model names or .pt files (default: every shipped quality and "
                    "spatial model)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per operation (best)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (the networks; OpenJPEG "
                    "and entropy coding run on the CPU)")
    ap.add_argument("--no-openjpeg", action="store_true")
    ap.add_argument("--no-single", action="store_true", help="skip the single-layer baseline")
    ap.add_argument("--json", type=Path, help="write the results here (default "
                    "results/speed/codec_speed.json, or codec_speed_quick.json with --quick)")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    torch.set_num_threads(args.threads)
    if args.quick:
        paths = [SAMPLE]
    elif not args.folder.is_dir():
        print(f"codec_speed: skipped: no image folder at {args.folder} (give --folder DIR, or "
              "--quick for the bundled sample)", file=sys.stderr)
        return 0
    else:
        paths = list_images(args.folder)[: args.images]
        if not paths:
            print(f"codec_speed: skipped: no images in {args.folder}", file=sys.stderr)
            return 0
    images = [(p.name, load_image(p)) for p in paths]
    models = [load_model(m, args.device) for m in args.models]
    device = models[0].device if models else torch.device("cpu")
    memory = Memory(device)
    matmul = matmul_gflops(device)
    print(f"{len(images)} image(s), {args.threads} thread(s), device {device}; "
          f"fp32 matmul {matmul:.1f} GFLOP/s", file=sys.stderr)

    rows: list[dict] = []
    for loaded in models:
        rows += measure_model(loaded, images, args.repeats, device, memory)
        if not args.no_single and loaded.config.mode == "quality":
            rows += measure_model(single_layer_baseline(loaded), images, args.repeats, device,
                                  memory)
    quality = [m for m in models if m.config.mode == "quality"]
    if not args.no_openjpeg and quality:
        first = quality[0].name
        rates = {}
        for r in rows:
            if r["model"] == first:
                rates.setdefault(r["image"], []).append(r["bpp"])
        rows += measure_openjpeg(images, rates, args.repeats, Memory(torch.device("cpu")))
    matmul = max(matmul, matmul_gflops(device))  # the best of before and after
    summary = summarize(rows, matmul)
    print(format_table(summary))
    print(f"(utilisation: network MACs x 2 / time / fp32 matmul {matmul:.1f} GFLOP/s; "
          "times: best of repeats, mean over images)")
    report = {"machine": machine(device, args.threads), "matmul_gflops": matmul,
              "repeats": args.repeats, "images": [n for n, _ in images],
              "summary": summary, "per_image": rows}
    out = args.json or REPO / "results" / "speed" / (
        "codec_speed_quick.json" if args.quick else "codec_speed.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, (json.dumps(report, indent=1) + "\n").encode())
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
