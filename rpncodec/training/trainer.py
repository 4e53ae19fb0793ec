"""The trainer: ``rpncodec train --mode quality --preset cpu --steps N --out DIR``.

Random crops from an in-memory folder of images (BSDS500 by default, never Kodak), Adam with
gradient clipping, a separate Adam for the entropy models' quantiles, the uncertainty-guided
stages (:func:`~rpncodec.training.losses.stage_at`), checkpoints that hold everything needed
for an exact resume, a JSON-lines log, periodic validation on a fixed held-out slice of the
training folder, and an export to the compact shipped format.

Distributed: ``torchrun --nproc_per_node=N -m rpncodec train ...`` trains with
DistributedDataParallel (gloo on CPU, nccl on GPU); each rank draws its own crops, rank 0
validates, logs and saves.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..errors import RpncodecError
from ..imageio import list_images
from ..models import ModelConfig, build_model, preset
from .data import CropDataset, center_crops, split_holdout
from .export import export, save_atomic
from .losses import (
    QUALITY_LAMBDAS,
    SPATIAL_LAMBDAS,
    guidance_weights,
    guided_rate_distortion,
    psnr,
    stage_at,
    uncertainty_nll,
)
from .progressive import Phase, grow_level, phase_at, train_only
from .uncertainty import UncertaintyNet

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
    lambdas: list[float] | None = None  # None: the mode's reference defaults
    decay_at: float = 0.85  # fraction of steps after which the lr drops 10x
    rate_warmup: int = 300  # steps over which the rate weight ramps 0 -> 1 (0: off)
    seed: int = 0
    data: str = str(DEFAULT_DATA)
    val_every: int = 500
    checkpoint_every: int = 200
    threads: int = 0  # 0 = torch's default
    guidance: bool = True  # uncertainty-guided stages (False: plain stage 0 throughout)
    device: str = "cpu"
    progressive: list[int] | None = None  # steps per level: train level by level (quality)
    grow_from: int = 2  # progressive: levels >= this start as copies of the level below
    init: str | None = None  # weights (exported file or checkpoint) the model starts from
    minutes: float | None = None  # time budget: the step schedule is fitted to it (fit_steps)
    init_levels: list[str] | None = None  # spatial: one single-layer model per level

    def model_config(self) -> ModelConfig:
        return preset(self.mode, self.preset)

    def phase_at(self, step: int) -> Phase:
        """The level a step trains: all of them at once unless training is progressive."""
        if self.progressive:
            return phase_at(step, self.progressive)
        return Phase(preset(self.mode, self.preset).layers, 0, self.steps)

    def lr_at(self, step: int) -> float:
        """Learning rate: drops 10x after ``decay_at`` of the run (of each progressive phase)."""
        phase = self.phase_at(step)
        return self.lr * (0.1 if phase.progress(step) >= self.decay_at * phase.steps else 1.0)

    def rate_scale_at(self, step: int) -> float:
        """Multiplier of every lambda, ramped from near 0 over ``rate_warmup`` steps (from the
        start of each progressive phase), so a level can carry bits while its synthesis learns
        to use them."""
        phase = self.phase_at(step)
        if not self.rate_warmup or (self.progressive and phase.level < self.grow_from):
            return 1.0  # a level carried over from --init needs no warm-up
        return min(1.0, (phase.progress(step) + 1) / self.rate_warmup)

    def stage_at(self, step: int) -> int:
        # the guided stages shape lower levels through upper ones: joint training only
        enabled = self.guidance and self.mode != "single" and not self.progressive
        return stage_at(step, self.steps, enabled=enabled)

    def fit_steps(self, total: int) -> None:
        """Rescale the run (and each progressive phase, proportionally) to ``total`` steps,
        so the lr decay, guided stages and phases of a time-budgeted run all happen."""
        if self.progressive:
            f = total / max(1, self.steps)
            self.progressive = [max(1, round(n * f)) if n else 0 for n in self.progressive]
            total = sum(self.progressive)
        self.steps = max(1, total)

    def mode_lambdas(self) -> tuple[float, ...]:
        """The per-level lambdas (a single-layer model takes the top level's)."""
        lambdas = self.lambdas or (SPATIAL_LAMBDAS if self.mode == "spatial" else QUALITY_LAMBDAS)
        return tuple(lambdas[-1:] if self.mode == "single" else lambdas)


class UncertaintyHeads(torch.nn.Module):
    """One uncertainty net per level below the top: level k's map from level k+1's latent."""

    def __init__(self, widths: tuple[int, ...], steps: int = 4) -> None:
        super().__init__()
        self.nets = torch.nn.ModuleList(
            UncertaintyNet(widths[k + 1], widths[k], steps) for k in range(len(widths) - 1))

    def forward(self, latents: list[torch.Tensor]) -> list[torch.Tensor]:
        return [net(y) for net, y in zip(self.nets, latents, strict=True)]

    def __len__(self) -> int:
        return len(self.nets)


def _distributed() -> tuple[int, int]:
    """(rank, world size), initialising the process group when run under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return int(os.environ.get("RANK", "0")), world


class Trainer:
    """Owns the model, uncertainty nets, optimisers, data and step counter of one run."""

    def __init__(self, cfg: TrainConfig, out: Path) -> None:
        self.cfg, self.out = cfg, out
        self.rank, self.world = _distributed()
        self.device = torch.device(cfg.device)
        if self.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.model_config()).to(self.device)
        w = self.model.config.widths
        # Level k's uncertainty comes from level k+1's decoded latent (none for the top level).
        # spatial: level k+1's latent is at level k's resolution / 8, quality's at / 16
        steps = 3 if cfg.mode == "spatial" else 4
        self.uncertainty = UncertaintyHeads(w, steps).to(self.device)
        self.lambdas = cfg.mode_lambdas()[: self.model.layers]
        if len(self.lambdas) != self.model.layers:
            raise RpncodecError(f"need {self.model.layers} lambdas, got {len(self.lambdas)}")
        if cfg.crop % self.model.pad_multiple:
            raise RpncodecError(f"--crop must be a multiple of {self.model.pad_multiple} in "
                                f"{cfg.mode} mode, got {cfg.crop}")
        self.cumulative = cfg.mode != "spatial"  # spatial rates are per level (own pixels)
        if cfg.progressive and (cfg.mode != "quality" or self.world > 1
                                or len(cfg.progressive) != self.model.layers):
            raise RpncodecError("--progressive needs quality mode, one process and one step "
                                f"count per level ({self.model.layers})")
        if cfg.minutes and self.world > 1:
            raise RpncodecError("--minutes needs one process (ranks would fit different "
                                "schedules)")
        if cfg.init:
            try:
                blob = torch.load(cfg.init, weights_only=True, map_location=self.device)
                self.model.load_state_dict(blob.get("model") or blob["state_dict"])
            except (OSError, RuntimeError, KeyError, AttributeError, pickle.UnpicklingError) as exc:
                raise RpncodecError(f"--init {cfg.init}: not weights of a {cfg.mode} "
                                    f"{cfg.preset} model ({type(exc).__name__})") from None
        if cfg.init_levels:
            self._init_levels(cfg.init_levels)
        self.net, self.unc_net = self.model, self.uncertainty
        if self.world > 1:
            ddp = torch.nn.parallel.DistributedDataParallel
            # quantiles are trained by the aux loss alone, identically on every rank
            ignored = [n for n, _ in self.model.named_parameters() if n.endswith("quantiles")]
            ddp._set_params_and_buffers_to_ignore_for_model(self.model, ignored)
            self.net = ddp(self.model)
            if len(self.uncertainty):
                self.unc_net = ddp(self.uncertainty)
        main = [p for n, p in self.model.named_parameters() if not n.endswith("quantiles")]
        self.opt = torch.optim.Adam(main, lr=cfg.lr)
        quantiles = [p for n, p in self.model.named_parameters() if n.endswith("quantiles")]
        self.aux_opt = torch.optim.Adam(quantiles, lr=cfg.aux_lr)
        # a single-layer model has no level above to estimate uncertainty from
        self.unc_opt = (torch.optim.Adam(self.uncertainty.parameters(), lr=cfg.lr)
                        if len(self.uncertainty) else None)
        torch.manual_seed(cfg.seed + self.rank)  # per-rank noise; weights are already equal
        self.gen = torch.Generator().manual_seed(cfg.seed + 1000 * self.rank)
        self.step = 0
        train_files, val_files = split_holdout(list_images(cfg.data))
        self.data = CropDataset(train_files, cfg.crop)
        self.val = (center_crops(val_files, 256, self.model.pad_multiple).to(self.device)
                    if val_files and self.rank == 0 else None)
        self.fitted = False  # --minutes: has the schedule been fitted to the budget yet?

    def _init_levels(self, paths: list[str]) -> None:
        """--init-levels: each spatial level from a single-layer model (rpncodec/warmstart.py)."""
        from ..zoo import load_model
        from .warmstart import levels_from_singles

        if self.cfg.mode != "spatial" or len(paths) != self.model.layers:
            raise RpncodecError(f"--init-levels needs spatial mode and {self.model.layers} "
                                "single-layer models, lowest level first")
        singles = [load_model(p).model for p in paths]
        try:
            levels_from_singles(self.model, singles)
        except (ValueError, KeyError) as exc:
            raise RpncodecError(f"--init-levels: {exc}") from None

    def state(self) -> dict:
        return {"config": asdict(self.cfg), "model_config": self.model.config.to_dict(),
                "model": self.model.state_dict(), "uncertainty": self.uncertainty.state_dict(),
                "opt": self.opt.state_dict(), "aux_opt": self.aux_opt.state_dict(),
                "unc_opt": self.unc_opt and self.unc_opt.state_dict(), "step": self.step,
                "gen": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
                "fitted": self.fitted}

    def save(self) -> None:
        if self.rank == 0:
            save_atomic(self.state(), self.out / "checkpoint.pt")

    def load(self, path: Path) -> None:
        state = torch.load(path, weights_only=True, map_location=self.device)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.aux_opt.load_state_dict(state["aux_opt"])
        if self.unc_opt and "uncertainty" in state:  # older checkpoints lack these
            self.uncertainty.load_state_dict(state["uncertainty"])
            self.unc_opt.load_state_dict(state["unc_opt"])
        self.step = state["step"]
        saved = state["config"]
        if state.get("fitted") and self.step < saved["steps"]:
            # an unfinished time-budgeted run keeps the schedule it was fitted to; resuming a
            # finished one extends it with this invocation's --steps / --minutes
            self.cfg.steps, self.cfg.progressive = saved["steps"], saved["progressive"]
            self.fitted = True
        if self.rank == 0:  # other ranks keep their own streams
            self.gen.set_state(state["gen"])
            torch.set_rng_state(state["torch_rng"])

    def train_step(self) -> dict:
        cfg = self.cfg
        stage = cfg.stage_at(self.step)
        self.model.train()
        for group in self.opt.param_groups + (self.unc_opt.param_groups if self.unc_opt else []):
            group["lr"] = cfg.lr_at(self.step)
        x = self.data.batch(cfg.batch, self.gen).to(self.device)
        record: dict = {"stage": stage}
        if cfg.progressive:
            phase = cfg.phase_at(self.step)
            if self.step == phase.start and phase.level >= max(cfg.grow_from, 2):
                grow_level(self.model, phase.level)
            train_only(self.model, phase.level)
            out = self.model(x, levels=phase.level)
            record["level"] = phase.level
        else:
            out = self.net(x)
        layers = len(out["x_hat"])
        weights: list[torch.Tensor | None] = [None] * layers
        if stage:
            latents = [y.detach() for y in out["y_hat"][1:]]
            if stage == 1:
                s = self.unc_net(latents)
                targets = out.get("targets") or [x] * self.model.layers
                nll = sum(uncertainty_nll(sk, tk, xk)
                          for sk, tk, xk in zip(s, targets, out["x_hat"][:-1], strict=False))
                self.unc_opt.zero_grad(set_to_none=True)
                nll.backward()
                torch.nn.utils.clip_grad_norm_(self.uncertainty.parameters(), cfg.clip)
                self.unc_opt.step()
                record["nll"] = float(nll.detach())
            else:
                with torch.no_grad():
                    s = self.uncertainty(latents)
                weights[:-1] = [guidance_weights(sk) for sk in s]
        scale = cfg.rate_scale_at(self.step)
        lambdas = tuple(scale * lam for lam in self.lambdas[:layers])
        rd = guided_rate_distortion(out, x, lambdas, weights, self.cumulative)
        self.opt.zero_grad(set_to_none=True)
        rd["loss"].backward()
        params = [p for p in self.opt.param_groups[0]["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        self.opt.step()
        aux = self.model.aux_loss()
        self.aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        self.aux_opt.step()
        self.step += 1
        return {**record, "loss": float(rd["loss"].detach()), "aux": float(aux.detach()),
                "bpp": [float(b.detach()) for b in rd["bpp"]],
                "mse": [float(m.detach()) for m in rd["mse"]]}

    @torch.no_grad()
    def validate(self) -> dict:
        """Rounded latents on the held-out crops: estimated bpp and PSNR per layer, and how
        the uncertainty maps are distributed and track the actual error."""
        self.model.eval()
        out = self.model(self.val)
        rd = guided_rate_distortion(out, self.val, self.lambdas, [None] * self.model.layers,
                                    self.cumulative)
        record = {"bpp": [round(float(b), 4) for b in rd["bpp"]],
                  "psnr": [round(psnr(float(m)), 3) for m in rd["mse"]]}
        if len(self.uncertainty):
            record["uncertainty"] = [
                _uncertainty_summary(s, t, x_hat)
                for s, t, x_hat in zip(self.uncertainty(out["y_hat"][1:]),
                                       out.get("targets") or [self.val] * self.model.layers,
                                       out["x_hat"][:-1], strict=False)]
        return record

    def log(self, record: dict) -> None:
        if self.rank == 0:
            with open(self.out / "log.jsonl", "a") as f:
                f.write(json.dumps({"step": self.step, "time": round(time.time(), 1),
                                    **record}) + "\n")

    def _fit_to_budget(self, begun: float, timed_from: tuple[int, float]) -> None:
        """--minutes: once the step rate is known, fit the schedule to the time left."""
        first_step, first_time = timed_from
        now = time.monotonic()
        rate = (self.step - first_step) / (now - first_time)
        left = self.cfg.minutes * 60 - (now - begun)
        self.cfg.fit_steps(self.step + int(0.97 * rate * left))
        self.fitted = True
        self.log({"fitted_steps": self.cfg.steps, "steps_per_s": round(rate, 2)})

    def run(self) -> None:
        cfg = self.cfg
        bar = tqdm(total=cfg.steps, initial=self.step, file=sys.stderr, dynamic_ncols=True,
                   disable=self.rank != 0)
        begun, first = time.monotonic(), self.step
        timed_from = (first, begun)
        while self.step < cfg.steps:
            t0 = time.perf_counter()
            rec = self.train_step()
            rec["sec"] = round(time.perf_counter() - t0, 3)
            if cfg.minutes and not self.fitted:
                if self.step == first + 10:  # steps 1-10 warm up caches and kernels
                    timed_from = (self.step, time.monotonic())
                elif self.step == first + 40:
                    self._fit_to_budget(begun, timed_from)
                    bar.total = cfg.steps
            if cfg.minutes and time.monotonic() - begun > cfg.minutes * 60:
                self.log({"stopped": "time budget spent"})
                if self.val is not None:
                    self.log({"val": self.validate()})
                self.save()
                break
            bar.update(1)
            bar.set_postfix(loss=f"{rec['loss']:.1f}", bpp=f"{rec['bpp'][-1]:.3f}",
                            psnr=f"{psnr(rec['mse'][-1]):.2f}", stage=rec["stage"])
            if self.step % 20 == 0:
                self.log({"train": rec})
            if self.val is not None and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                self.log({"val": self.validate()})
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save()
        bar.close()


def _uncertainty_summary(s: torch.Tensor, x: torch.Tensor, x_hat: torch.Tensor) -> dict:
    """Quantiles of an uncertainty map and its correlation with the log squared error."""
    levels = torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95], device=s.device)
    q = torch.quantile(s.flatten()[:1_000_000], levels)
    err = torch.log(255.0**2 * (x - x_hat) ** 2 + 1e-3).flatten()
    corr = torch.corrcoef(torch.stack([s.flatten(), err]))[0, 1]
    return {"quantiles_5_25_50_75_95": [round(float(v), 3) for v in q],
            "corr_with_log_err": round(float(corr), 3)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    p.add_argument("--mode", default=d.mode, choices=["quality", "spatial", "single"])
    p.add_argument("--preset", default=d.preset)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--crop", type=int, default=d.crop)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--lambdas", type=float, nargs="+", default=None,
                   help="rate multiplier per level (default: quality 240 120 45 20, "
                        "spatial 500 300 150, single: the quality top level's)")
    p.add_argument("--rate-warmup", type=int, default=d.rate_warmup,
                   help="steps over which the rate weight ramps from 0 to its lambda")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--data", default=d.data, help="folder of training images (never Kodak)")
    p.add_argument("--val-every", type=int, default=d.val_every)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--no-guidance", dest="guidance", action="store_false",
                   help="plain rate-distortion only (the ablation baseline)")
    p.add_argument("--device", default=d.device, help="cpu or cuda")
    p.add_argument("--progressive", type=int, nargs="+", metavar="STEPS",
                   help="train level by level (quality mode): steps for each level; "
                        "--steps is then their sum")
    p.add_argument("--grow-from", type=int, default=d.grow_from, metavar="K",
                   help="progressive: levels >= K start as copies of the level below")
    p.add_argument("--init", metavar="FILE",
                   help="start from these weights (an exported .pt or a checkpoint)")
    p.add_argument("--init-levels", nargs="+", metavar="MODEL",
                   help="spatial: start level k from single-layer model k (shipped name or "
                        ".pt), its prediction zeroed, so training starts at simulcast")
    p.add_argument("--minutes", type=float, default=None,
                   help="time budget: after 40 steps the schedule (--steps, or the "
                        "--progressive phases) is fitted to it, and the run stops at it")
    p.add_argument("--out", required=True, help="run directory (checkpoint, log, export)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--export", metavar="FILE", help="also export the final model to FILE")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    cfg = TrainConfig(mode=args.mode, preset=args.preset, steps=args.steps, batch=args.batch,
                      crop=args.crop, lr=args.lr, lambdas=args.lambdas,
                      rate_warmup=args.rate_warmup, seed=args.seed,
                      data=args.data, val_every=args.val_every,
                      checkpoint_every=args.checkpoint_every, threads=args.threads,
                      guidance=args.guidance, device=args.device, progressive=args.progressive,
                      grow_from=args.grow_from, init=args.init, minutes=args.minutes,
                      init_levels=args.init_levels)
    if cfg.progressive:
        cfg.steps = sum(cfg.progressive)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    trainer = Trainer(cfg, out)
    if args.resume and (out / "checkpoint.pt").exists():
        trainer.load(out / "checkpoint.pt")
    trainer.run()
    if args.export and trainer.rank == 0:
        digest = export(trainer.model, Path(args.export))
        print(f"exported {args.export} sha256 {digest}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="rpncodec train")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
