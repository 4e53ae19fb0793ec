"""How the model's loss falls with the number of refinement steps (docs/results.md, "Encoder-side
refinement"): per image, the training loss of the rounded latents (the coders' own
likelihoods) and each layer's bpp / PSNR, after 0 and each given number of steps.

    .venv/bin/python scripts/refine_steps.py MODEL IMAGE [IMAGE ...] [--steps 10 30 60]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rpncodec.codec import pad
from rpncodec.imageio import load_image
from rpncodec.metrics import psnr_from_mse
from rpncodec.models.objective import rate_distortion
from rpncodec.models.refine import default_lambdas, refine_latents
from rpncodec.tensors import to_tensor
from rpncodec.zoo import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("images", nargs="+")
    ap.add_argument("--steps", type=int, nargs="+", default=[10, 30, 60])
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model).model
    mode = model.config.mode
    lambdas = default_lambdas(mode)
    for path in args.images:
        x = to_tensor(pad(load_image(path), model.pad_multiple))
        base = None
        for steps in [0, *args.steps]:
            t0 = time.perf_counter()
            latents = refine_latents(model, x, steps)
            seconds = time.perf_counter() - t0
            with torch.no_grad():
                rd = rate_distortion(model(x, None, latents), x, lambdas)
            loss = float(rd["loss"])
            base = base or loss
            layers = " ".join(f"{float(b):.4f}/{psnr_from_mse(float(d)):.2f}"
                              for b, d in zip(rd["bpp"], rd["mse"], strict=True))
            print(f"{Path(path).name} steps {steps:3d} ({seconds:5.1f} s): loss {loss:.2f} "
                  f"({100 * (loss / base - 1):+.1f}%)  bpp/PSNR per layer {layers}", flush=True)


if __name__ == "__main__":
    main()
