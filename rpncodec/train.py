"""The trainer: ``rpncodec train --mode quality --preset cpu --steps N --out DIR``.

Random crops from an in-memory folder of images (BSDS500 by default, never Kodak), Adam with
gradient clipping, a separate Adam for the entropy models' quantiles, checkpoints that hold
everything needed for an exact resume, a JSON-lines log, periodic validation on a fixed held-out
slice of the training folder, and an export to the compact shipped format.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from .data import CropDataset, center_crops, list_images, split_holdout
from .losses import QUALITY_LAMBDAS, rate_distortion
from .models import ModelConfig, build_model, preset

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "train" / "bsds500"


@dataclass
class TrainConfig:
    """Hyper-parameters of one run; saved in every checkpoint."""

    mode: str = "quality"
    preset: str = "cpu"
    steps: int = 10000
    batch: int = 16
    crop: int = 64
    lr: float = 1e-3
    aux_lr: float = 1e-3
    clip: float = 1.0
    lambdas: list[float] = field(default_factory=lambda: list(QUALITY_LAMBDAS))
    decay_at: float = 0.85  # fraction of steps after which the lr drops 10x
    seed: int = 0
    data: str = str(DEFAULT_DATA)
    val_every: int = 500
    checkpoint_every: int = 200
    threads: int = 0  # 0 = torch's default

    def model_config(self) -> ModelConfig:
        return preset(self.mode, self.preset)

    def lr_at(self, step: int) -> float:
        return self.lr * (0.1 if step >= self.decay_at * self.steps else 1.0)


def _atomic_save(obj: object, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class Trainer:
    """Owns the model, optimisers, data and step counter of one run directory."""

    def __init__(self, cfg: TrainConfig, out: Path) -> None:
        self.cfg, self.out = cfg, out
        out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.model_config())
        lambdas = cfg.lambdas[-self.model.layers:] if cfg.mode == "single" else cfg.lambdas
        self.lambdas = tuple(lambdas[: self.model.layers])
        main = [p for n, p in self.model.named_parameters() if not n.endswith("quantiles")]
        self.opt = torch.optim.Adam(main, lr=cfg.lr)
        quantiles = [p for n, p in self.model.named_parameters() if n.endswith("quantiles")]
        self.aux_opt = torch.optim.Adam(quantiles, lr=cfg.aux_lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        train_files, val_files = split_holdout(list_images(cfg.data))
        self.data = CropDataset(train_files, cfg.crop)
        self.val = center_crops(val_files, 256) if val_files else None

    def state(self) -> dict:
        return {"config": asdict(self.cfg), "model_config": self.model.config.to_dict(),
                "model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "aux_opt": self.aux_opt.state_dict(), "step": self.step,
                "gen": self.gen.get_state(), "torch_rng": torch.get_rng_state()}

    def save(self) -> None:
        _atomic_save(self.state(), self.out / "checkpoint.pt")

    def load(self, path: Path) -> None:
        state = torch.load(path, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.aux_opt.load_state_dict(state["aux_opt"])
        self.step = state["step"]
        self.gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])

    def train_step(self) -> dict:
        self.model.train()
        for group in self.opt.param_groups:
            group["lr"] = self.cfg.lr_at(self.step)
        x = self.data.batch(self.cfg.batch, self.gen)
        rd = rate_distortion(self.model(x), x, self.lambdas, cumulative=True)
        self.opt.zero_grad(set_to_none=True)
        rd["loss"].backward()
        torch.nn.utils.clip_grad_norm_(self.opt.param_groups[0]["params"], self.cfg.clip)
        self.opt.step()
        aux = self.model.aux_loss()
        self.aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        self.aux_opt.step()
        self.step += 1
        return {"loss": float(rd["loss"].detach()), "aux": float(aux.detach()),
                "bpp": [float(b.detach()) for b in rd["bpp"]],
                "mse": [float(m.detach()) for m in rd["mse"]]}

    @torch.no_grad()
    def validate(self) -> dict:
        """Rounded latents on the held-out crops: estimated bpp and PSNR per layer."""
        self.model.eval()
        out = self.model(self.val)
        rd = rate_distortion(out, self.val, self.lambdas, cumulative=True)
        return {"bpp": [round(float(b), 4) for b in rd["bpp"]],
                "psnr": [round(_psnr(m), 3) for m in rd["mse"]]}

    def log(self, record: dict) -> None:
        with open(self.out / "log.jsonl", "a") as f:
            f.write(json.dumps({"step": self.step, "time": round(time.time(), 1), **record}) + "\n")

    def run(self) -> None:
        cfg = self.cfg
        bar = tqdm(total=cfg.steps, initial=self.step, file=sys.stderr, dynamic_ncols=True)
        while self.step < cfg.steps:
            t0 = time.perf_counter()
            rec = self.train_step()
            rec["sec"] = round(time.perf_counter() - t0, 3)
            bar.update(1)
            bar.set_postfix(loss=f"{rec['loss']:.1f}", bpp=f"{rec['bpp'][-1]:.3f}",
                            psnr=f"{_psnr(rec['mse'][-1]):.2f}")
            if self.step % 20 == 0:
                self.log({"train": rec})
            if self.val is not None and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                self.log({"val": self.validate()})
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save()
        bar.close()


def _psnr(mse: float) -> float:
    return -10 * math.log10(max(mse, 1e-12))


def settle_quantiles(model: torch.nn.Module, steps: int = 3000, lr: float = 1e-2) -> float:
    """Fit the entropy models' quantiles alone (cheap: no image pass) before building tables."""
    quantiles = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
    opt = torch.optim.Adam(quantiles, lr=lr)
    for _ in range(steps):
        loss = model.aux_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return float(loss.detach())


def export(model: torch.nn.Module, path: str | Path, settle_steps: int = 3000) -> str:
    """Write the shipped format (fp16 weights, int tables, JSON config); return its sha256."""
    settle_quantiles(model, settle_steps)
    model.update()
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    _atomic_save({"config": model.config.to_dict(), "state_dict": state}, path)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    p.add_argument("--mode", default=d.mode, choices=["quality", "single"])
    p.add_argument("--preset", default=d.preset)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--crop", type=int, default=d.crop)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--lambdas", type=float, nargs="+", default=d.lambdas)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--data", default=d.data, help="folder of training images (never Kodak)")
    p.add_argument("--val-every", type=int, default=d.val_every)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--out", required=True, help="run directory (checkpoint, log, export)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--export", metavar="FILE", help="also export the final model to FILE")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    cfg = TrainConfig(mode=args.mode, preset=args.preset, steps=args.steps, batch=args.batch,
                      crop=args.crop, lr=args.lr, lambdas=list(args.lambdas), seed=args.seed,
                      data=args.data, val_every=args.val_every,
                      checkpoint_every=args.checkpoint_every, threads=args.threads)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    trainer = Trainer(cfg, out)
    if args.resume and (out / "checkpoint.pt").exists():
        trainer.load(out / "checkpoint.pt")
    trainer.run()
    if args.export:
        digest = export(trainer.model, Path(args.export))
        print(f"exported {args.export} sha256 {digest}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="rpncodec train")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
