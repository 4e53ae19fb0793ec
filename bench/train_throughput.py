"""Training throughput per preset and crop size: steps/s and ms per phase.

Phases: data (crop sampling from the in-memory uint8 images), forward (network + losses),
backward, optimiser (clipping, Adam, aux step). Uses the real trainer on the real training
folder; stage 0 (plain rate-distortion). Run with nothing else on the machine:
    python bench/train_throughput.py [--steps 6] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from rpncodec.models.objective import rate_distortion
from rpncodec.training.trainer import TrainConfig, Trainer

# (mode, preset, crop, batch): equal pixels per step within a crop size family
CASES = [
    ("quality", "cpu", 64, 16), ("quality", "cpu", 64, 32), ("quality", "cpu", 128, 8),
    ("quality", "paper", 64, 16), ("quality", "paper", 128, 8),
    ("single", "cpu", 64, 16), ("spatial", "cpu", 128, 8), ("spatial", "cpu", 256, 4),
]


def measure(trainer: Trainer, steps: int) -> dict[str, float]:
    """Median milliseconds per phase over ``steps`` steps (after one warm-up step)."""
    cfg, model = trainer.cfg, trainer.model
    model.train()
    phases: dict[str, list[float]] = {"data": [], "forward": [], "backward": [], "optimiser": []}
    for i in range(steps + 1):
        t0 = time.perf_counter()
        x = trainer.data.batch(cfg.batch, trainer.gen)
        t1 = time.perf_counter()
        loss = rate_distortion(model(x), x, trainer.lambdas)["loss"]
        t2 = time.perf_counter()
        trainer.opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(trainer.opt.param_groups[0]["params"], cfg.clip)
        trainer.opt.step()
        aux = model.aux_loss()
        trainer.aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        trainer.aux_opt.step()
        t4 = time.perf_counter()
        if i:
            for key, a, b in (("data", t0, t1), ("forward", t1, t2), ("backward", t2, t3),
                              ("optimiser", t3, t4)):
                phases[key].append(1000 * (b - a))
    return {k: sorted(v)[len(v) // 2] for k, v in phases.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=TrainConfig().data)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads}; median of {args.steps} steps; data {args.data}")
    print(f"{'mode':<8} {'preset':<6} {'crop':>4} {'batch':>5} {'steps/s':>8} {'data ms':>8} "
          f"{'fwd ms':>8} {'bwd ms':>8} {'opt ms':>8} {'Mpx/s':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for mode, name, crop, batch in CASES:
            cfg = TrainConfig(mode=mode, preset=name, crop=crop, batch=batch, data=args.data)
            trainer = Trainer(cfg, Path(tmp) / f"{mode}-{name}-{crop}-{batch}")
            ms = measure(trainer, args.steps)
            total = sum(ms.values())
            print(f"{mode:<8} {name:<6} {crop:>4} {batch:>5} {1000 / total:8.2f} "
                  f"{ms['data']:8.1f} {ms['forward']:8.1f} {ms['backward']:8.1f} "
                  f"{ms['optimiser']:8.1f} {batch * crop * crop / total / 1000:6.2f}")


if __name__ == "__main__":
    main()
