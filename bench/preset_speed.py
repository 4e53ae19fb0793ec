"""Speed of candidate quality-mode widths on this machine: the CPU preset's justification.

For each width set: one training step (batch of 64x64 crops, forward + backward + Adam) and
inference encode/decode of one 768x512 image (all layers; random weights; real entropy coding).
Run it with nothing else on the machine:  python bench/preset_speed.py [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rpncodec import codec
from rpncodec.models import ModelConfig, build_model
from rpncodec.models.objective import rate_distortion
from rpncodec.zoo import LoadedModel

CANDIDATES = {
    "paper": (96, 120, 144, 196),
    "96x4": (96, 96, 96, 96),
    "cpu-64x4": (64, 64, 64, 64),
    "48-96": (48, 64, 80, 96),
    "32x4": (32, 32, 32, 32),
}


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, 64, 64)
    image = (np.random.default_rng(0).random((512, 768, 3)) * 255).astype(np.uint8)
    print(f"threads={args.threads}, train batch {args.batch}x64x64, inference 768x512")
    print(f"{'widths':<12} {'params M':>8} {'train step s':>12} {'encode s':>9} {'decode s':>9}")
    for name, widths in CANDIDATES.items():
        model = build_model(ModelConfig("quality", widths))
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def step(model=model, opt=opt) -> None:
            model.train()
            loss = rate_distortion(model(x), x, (240.0, 120.0, 45.0, 20.0))["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()

        train_s = best_of(step, args.repeats)
        model.eval()
        model.update()
        loaded = LoadedModel(name, b"\0" * 8, model)
        data = codec.encode(image, loaded)
        enc_s = best_of(lambda loaded=loaded: codec.encode(image, loaded), args.repeats)
        dec_s = best_of(lambda data=data, loaded=loaded: codec.decode(data, None, loaded),
                        args.repeats)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{name:<12} {params:8.2f} {train_s:12.3f} {enc_s:9.3f} {dec_s:9.3f}")


if __name__ == "__main__":
    main()
