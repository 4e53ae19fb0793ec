"""Encode and decode images from 1x1 to 8192x8192: time and peak memory (RSS) per size.

    python bench/large_image.py                          # 1x1 ... 8192x8192, shipped model
    python bench/large_image.py --sizes 1x1 512x512 --tile 512
    python bench/large_image.py --seams --out bench-out  # tiled vs untiled on 1024x1024

Each measurement runs in a fresh subprocess (one for the encode, one for the decode), which
reports its own peak RSS (``getrusage``'s ``ru_maxrss``) on exit, so one size's memory never
hides another's. The encode process includes making the image (the bundled Kodak sample
resized to the size, as reading a large photo would: Pillow's image plus the RGB array); the
decode process reads the .rpn file and decodes every layer into one uint8 image (not written
out). Peak RSS includes torch itself (about 0.3-0.4 GB). Memory does not depend on CPU load;
times do: take them with nothing else running.

``--seams`` codes a 1024x1024 image (the sample resized) untiled and in 512x512 tiles, and
reports the PSNR of each against the original, the PSNR between them, and the PSNR of the tiled
decode in an 8-pixel band around the seams against the rest; it writes a crop around the seams'
crossing (original | untiled | tiled, 2x nearest-neighbour zoom) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from rpncodec.metrics import psnr

SAMPLE = Path(__file__).resolve().parents[1] / "rpncodec" / "samples" / "kodim23.png"
SIZES = ("1x1", "17x31", "512x768", "2048x2048", "4096x4096", "8192x8192")


def make_image(width: int, height: int) -> np.ndarray:
    """The bundled sample resized to ``width`` x ``height`` (photo-like content at any size)."""
    with Image.open(SAMPLE) as sample:
        resized = sample.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(resized)


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process; prints one JSON line."""
    import torch

    from rpncodec import bitstream, codec
    from rpncodec.zoo import load_model

    torch.set_num_threads(args.threads)
    loaded = load_model(args.model)
    path = Path(args.file)
    if args.child == "encode":
        width, height = (int(v) for v in args.size.split("x"))
        image = make_image(width, height)
        t0 = time.perf_counter()
        data = codec.encode(image, loaded, args.tile)
        seconds = time.perf_counter() - t0
        path.write_bytes(data)
        header = bitstream.parse(data).header
        row = {"bytes": len(data), "tiles": header.tiles, "bpp": 8 * len(data) / (width * height)}
    else:
        data = path.read_bytes()
        t0 = time.perf_counter()
        decoded = codec.decode(data, None, loaded)
        seconds = time.perf_counter() - t0
        row = {"shape": list(decoded.image.shape), "layers": decoded.layers}
    print(json.dumps({**row, "seconds": seconds, "peak_rss_mib": peak_rss_mib()}))


def run_child(step: str, size: str, file: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", step, "--size", size, "--file", str(file),
               "--model", args.model, "--tile", str(args.tile), "--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{step} {size} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def sizes_table(args: argparse.Namespace) -> None:
    print(f"model {args.model}, tile {args.tile}, {args.threads} torch threads")
    print("size        tiles  bytes       bpp      encode s  encode peak MiB  decode s  "
          "decode peak MiB")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            file = Path(tmp) / f"{size}.rpn"
            enc = run_child("encode", size, file, args)
            dec = run_child("decode", size, file, args)
            print(f"{size:<10}  {enc['tiles']:>5}  {enc['bytes']:>10}  {enc['bpp']:7.4f}  "
                  f"{enc['seconds']:8.2f}  {enc['peak_rss_mib']:15.0f}  {dec['seconds']:8.2f}  "
                  f"{dec['peak_rss_mib']:15.0f}", flush=True)


def seams(args: argparse.Namespace) -> None:
    import torch

    from rpncodec import codec
    from rpncodec.zoo import load_model

    torch.set_num_threads(args.threads)
    loaded = load_model(args.model)
    side, tile, band = 1024, 512, 8
    image = make_image(side, side)
    out: dict[str, np.ndarray] = {}
    for name, t in (("untiled", side), ("tiled", tile)):
        data = codec.encode(image, loaded, t)
        out[name] = codec.decode(data, None, loaded).image
        print(f"{name:<8} tile {t:>4}: {len(data):>7} bytes, {8 * len(data) / side**2:.4f} bpp, "
              f"PSNR {psnr(image, out[name]):.2f} dB")
    near = np.zeros((side, side), dtype=bool)
    near[tile - band : tile + band, :] = near[:, tile - band : tile + band] = True
    for name in ("untiled", "tiled"):
        inside, outside = psnr(image[near], out[name][near]), psnr(image[~near], out[name][~near])
        print(f"{name:<8} PSNR within {band} px of the seams {inside:.2f} dB, "
              f"elsewhere {outside:.2f} dB")
    print(f"tiled vs untiled decode: PSNR {psnr(out['untiled'], out['tiled']):.2f} dB")
    crop = slice(tile - 64, tile + 64)
    strip = np.concatenate([v[crop, crop] for v in (image, out["untiled"], out["tiled"])], 1)
    strip = strip.repeat(2, 0).repeat(2, 1)
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "seam-crop.png"
    Image.fromarray(strip).save(path)
    print(f"crop around the seams' crossing (original | untiled | tiled, 2x zoom): {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="rpn-quality-cpu")
    p.add_argument("--sizes", nargs="+", default=list(SIZES), help="WxH sizes")
    p.add_argument("--tile", type=int, default=1024)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seams", action="store_true", help="measure tiled vs untiled coding")
    p.add_argument("--out", default="bench-out", help="folder for the --seams crop")
    p.add_argument("--child", choices=("encode", "decode"), help=argparse.SUPPRESS)
    p.add_argument("--size", help=argparse.SUPPRESS)
    p.add_argument("--file", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
    elif args.seams:
        seams(args)
    else:
        sizes_table(args)


if __name__ == "__main__":
    main()
