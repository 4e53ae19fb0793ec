"""The trainer: ``rpncodec train --mode quality --preset cpu --steps N --out DIR``.

Random crops from an in-memory folder of images (BSDS500 by default, never Kodak), Adam with
gradient clipping, a separate Adam for the latent codecs' auxiliary parameters, the
uncertainty-guided stages, checkpoints for an exact resume (:mod:`.checkpoint`), a JSON-lines
log, periodic validation on a fixed held-out slice of the training folder (:mod:`.validation`)
and an export to the compact shipped format (:mod:`.export`). Hyper-parameters and their
schedule: :mod:`.config`.

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
from pathlib import Path

import torch
from tqdm import tqdm

from ..errors import RpncodecError
from ..imageio import list_images
from ..models import build_model
from ..models.objective import guided_rate_distortion
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig, from_arguments
from .data import CropDataset, center_crops, split_holdout
from .export import export
from .losses import guidance_weights, psnr, uncertainty_nll
from .progressive import grow_level, train_only
from .uncertainty import UncertaintyHeads
from .validation import validate

REFIT_EVERY = 20  # steps between the checks that a time-budgeted run still ends in time


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
        self._check(cfg)
        if self.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.model_config()).to(self.device)
        # level k's uncertainty comes from level k+1's decoded latent (none for the top level)
        self.uncertainty = UncertaintyHeads(self.model.config).to(self.device)
        self.lambdas = cfg.mode_lambdas()[: self.model.layers]
        if cfg.init:
            self._init(cfg.init)
        if cfg.init_levels:
            self._init_levels(cfg.init_levels)
        for level in self.model.levels[: cfg.freeze_levels]:
            level.requires_grad_(False)
        aux = [p for p in self.model.aux_parameters() if p.requires_grad]
        self.net, self.unc_net = self.model, self.uncertainty
        if self.world > 1:
            ddp = torch.nn.parallel.DistributedDataParallel
            # auxiliary parameters follow the aux loss alone, identically on every rank
            ignored = [n for n, p in self.model.named_parameters() if any(p is a for a in aux)]
            ddp._set_params_and_buffers_to_ignore_for_model(self.model, ignored)
            self.net = ddp(self.model)
            if len(self.uncertainty):
                self.unc_net = ddp(self.uncertainty)
        main = [p for p in self.model.parameters()
                if p.requires_grad and not any(p is a for a in aux)]
        self.opt = torch.optim.Adam(main, lr=cfg.lr)
        # none when every level with auxiliary parameters is frozen
        self.aux_opt = torch.optim.Adam(aux, lr=cfg.aux_lr) if aux else None
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
        self.extra = self.val_extra = None
        if cfg.extra_data:  # a second source, validated apart so neither hides the other
            extra_train, extra_val = split_holdout(list_images(cfg.extra_data), every=20)
            self.extra = CropDataset(extra_train, cfg.crop)
            if extra_val and self.rank == 0:
                self.val_extra = center_crops(extra_val, 256, self.model.pad_multiple)
                self.val_extra = self.val_extra.to(self.device)
        self.fitted = False  # --minutes: has the schedule been fitted to the budget yet?

    def _check(self, cfg: TrainConfig) -> None:
        """Refuse option combinations that cannot train, with one clear error."""
        layers, multiple = cfg.layers, cfg.model_config().pad_multiple
        if len(cfg.mode_lambdas()) < layers:
            raise RpncodecError(f"need {layers} lambdas, got {len(cfg.mode_lambdas())}")
        if cfg.crop % multiple:
            raise RpncodecError(f"--crop must be a multiple of {multiple} in {cfg.mode} mode, "
                                f"got {cfg.crop}")
        if cfg.progressive and (cfg.mode != "quality" or self.world > 1
                                or len(cfg.progressive) != layers):
            raise RpncodecError("--progressive needs quality mode, one process and one step "
                                f"count per level ({layers})")
        if not 0 <= cfg.extra_share <= 1:
            raise RpncodecError(f"--extra-share must be between 0 and 1, got {cfg.extra_share}")
        if not 0 <= cfg.freeze_levels < layers:
            raise RpncodecError(f"--freeze-levels must be 0 to {layers - 1}, got "
                                f"{cfg.freeze_levels}")
        if cfg.freeze_levels and not cfg.init:
            raise RpncodecError("--freeze-levels needs --init (the weights to keep)")
        if cfg.minutes and self.world > 1:
            raise RpncodecError("--minutes needs one process (ranks would fit different "
                                "schedules)")

    def _init(self, path: str) -> None:
        """--init: weights from an exported file or a checkpoint."""
        try:
            blob = torch.load(path, weights_only=True, map_location=self.device)
            self.model.load_state_dict(blob.get("model") or blob["state_dict"])
        except (OSError, RuntimeError, KeyError, AttributeError, pickle.UnpicklingError) as exc:
            raise RpncodecError(f"--init {path}: not weights of a {self.cfg.mode} "
                                f"{self.cfg.preset} model ({type(exc).__name__})") from None

    def _init_levels(self, paths: list[str]) -> None:
        """--init-levels: each spatial level from a single-layer model (:mod:`.warmstart`)."""
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

    def save(self) -> None:
        if self.rank == 0:
            save_checkpoint(self, self.out / "checkpoint.pt")

    def load(self, path: Path) -> None:
        load_checkpoint(self, path)

    def train_step(self) -> dict:
        cfg = self.cfg
        stage = cfg.stage_at(self.step)
        self.model.train()
        for level in self.model.levels[: cfg.freeze_levels]:
            # as the decoder runs them: no noise, and no spectral-norm power iterations, whose
            # vectors are buffers an optimizer never sees (they would change the bytes)
            level.eval()
        for group in self.opt.param_groups + (self.unc_opt.param_groups if self.unc_opt else []):
            group["lr"] = cfg.lr_at(self.step)
        x = self.batch().to(self.device)
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
        weights: list[torch.Tensor | None] = [None] * len(out["x_hat"])
        if stage == 1:
            record["nll"] = self._uncertainty_step(out)
        elif stage == 2:
            with torch.no_grad():
                maps = self.uncertainty([y.detach() for y in out["y_hat"][1:]])
            weights[:-1] = [guidance_weights(s) for s in maps]
        scale = cfg.rate_scale_at(self.step)
        lambdas = tuple(scale * lam for lam in self.lambdas[: len(weights)])
        rd = guided_rate_distortion(out, x, lambdas, weights)
        self.opt.zero_grad(set_to_none=True)
        rd["loss"].backward()
        params = [p for p in self.opt.param_groups[0]["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        self.opt.step()
        aux = self.model.aux_loss()
        if aux.requires_grad and self.aux_opt:  # not when no trained codec has such a part
            self.aux_opt.zero_grad(set_to_none=True)
            aux.backward()
            self.aux_opt.step()
        self.step += 1
        return {**record, "loss": float(rd["loss"].detach()), "aux": float(aux.detach()),
                "bpp": [float(b.detach()) for b in rd["bpp"]],
                "mse": [float(m.detach()) for m in rd["mse"]]}

    def _uncertainty_step(self, out: dict) -> float:
        """Stage 1: the uncertainty nets learn each lower layer's error from the latent above."""
        maps = self.unc_net([y.detach() for y in out["y_hat"][1:]])
        nll = sum(uncertainty_nll(s, t, x_hat) for s, t, x_hat in
                  zip(maps, out["targets"], out["x_hat"][:-1], strict=False))
        self.unc_opt.zero_grad(set_to_none=True)
        nll.backward()
        torch.nn.utils.clip_grad_norm_(self.uncertainty.parameters(), self.cfg.clip)
        self.unc_opt.step()
        return float(nll.detach())

    def batch(self) -> torch.Tensor:
        """A training batch; with --extra-data, its share of the crops come from there."""
        cfg = self.cfg
        n_extra = round(cfg.batch * cfg.extra_share) if self.extra is not None else 0
        parts = [self.data.batch(cfg.batch - n_extra, self.gen)]
        if n_extra:
            parts.append(self.extra.batch(n_extra, self.gen))
        return torch.cat(parts)

    def validate(self) -> dict:
        """Validation on the held-out photos, and apart on the held-out --extra-data crops."""
        record = validate(self.model, self.uncertainty, self.val, self.lambdas)
        if self.val_extra is not None:
            record["extra"] = validate(self.model, self.uncertainty, self.val_extra,
                                       self.lambdas)
        return record

    def log(self, record: dict) -> None:
        if self.rank == 0:
            with open(self.out / "log.jsonl", "a") as f:
                f.write(json.dumps({"step": self.step, "time": round(time.time(), 1),
                                    **record}) + "\n")

    def _fit_to_budget(self, begun: float, timed_from: tuple[int, float],
                       shrink_only: bool = False) -> None:
        """--minutes: fit the schedule to the time left at the step rate since ``timed_from``;
        with ``shrink_only`` (the later checks) only when the run would not end in time."""
        first_step, first_time = timed_from
        now = time.monotonic()
        rate = (self.step - first_step) / max(now - first_time, 1e-9)
        left = self.cfg.minutes * 60 - (now - begun)
        total = self.step + max(1, int(0.97 * rate * left))
        if shrink_only and total >= self.cfg.steps:
            return
        self.cfg.fit_steps(total)
        self.fitted = True
        self.log({"refitted_steps" if shrink_only else "fitted_steps": self.cfg.steps,
                  "steps_per_s": round(rate, 2)})

    def run(self) -> None:
        cfg = self.cfg
        bar = tqdm(total=cfg.steps, initial=self.step, file=sys.stderr, dynamic_ncols=True,
                   disable=self.rank != 0)
        begun, first = time.monotonic(), self.step
        timed_from = (first, begun)
        window: tuple[int, float] | None = None  # the steps since the last refit check
        while self.step < cfg.steps:
            t0 = time.perf_counter()
            rec = self.train_step()
            rec["sec"] = round(time.perf_counter() - t0, 3)
            if cfg.minutes and not self.fitted:
                if self.step == first + 10:  # steps 1-10 warm up caches and kernels
                    timed_from = (self.step, time.monotonic())
                elif self.step == first + 40:
                    self._fit_to_budget(begun, timed_from)
                    window = (self.step, time.monotonic())
                    bar.total = cfg.steps
            elif cfg.minutes and not cfg.progressive and (self.step - first) % REFIT_EVERY == 0:
                # a machine that slows down (other work on its cores) must not cut the lr
                # decay off the end: refit to the rate of the last steps, unless a validation
                # or checkpoint slowed them (phases would move: not in a progressive run)
                if window and window[0] == self.step - REFIT_EVERY:
                    self._fit_to_budget(begun, window, shrink_only=True)
                    bar.total = cfg.steps
                window = (self.step, time.monotonic())
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
                window = None  # not a window of training steps alone
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save()
                window = None
        bar.close()


def run(args: argparse.Namespace) -> int:
    """``rpncodec train``: build the run from the options, resume if asked, train, export."""
    out = Path(args.out)
    cfg = from_arguments(args)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    trainer = Trainer(cfg, out)
    if args.resume and (out / "checkpoint.pt").exists():
        trainer.load(out / "checkpoint.pt")
    trainer.run()
    if args.export and trainer.rank == 0:
        digest = export(trainer.model, Path(args.export), frozen=cfg.freeze_levels)
        print(f"exported {args.export} sha256 {digest}")
    return 0


if __name__ == "__main__":
    from .config import add_arguments

    parser = argparse.ArgumentParser(prog="rpncodec train")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
