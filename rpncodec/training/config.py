"""A training run's hyper-parameters and its schedule, declared once.

Every field of :class:`TrainConfig` is also a ``rpncodec train`` option (its help text is the
field's metadata), so the dataclass, the command line and the checkpoints never disagree. The
schedule (learning rate, rate warm-up, guided stages, progressive phases, time-budget fit) is
a pure function of the config and the step, which is what makes a resumed run exact.
The command line builds its parser from here without importing the trainer.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path

from ..bitstream import MODES
from ..models import ModelConfig, preset
from ..models.config import QUALITY_LAMBDAS, SPATIAL_LAMBDAS, SPATIAL_QUALITY_LAMBDAS

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "train" / "bsds500"


def _opt(default: object, help: str, **argparse_kwargs: object) -> object:
    """A config field that is also a command-line option."""
    return field(default=default, metadata={"help": help, **argparse_kwargs})


@dataclass(frozen=True)
class Phase:
    """The level (1-based) a global step trains, and where its phase starts and ends."""

    level: int
    start: int
    steps: int

    def progress(self, step: int) -> int:
        """Steps done in this phase before ``step``."""
        return step - self.start


def phase_at(step: int, steps_per_level: list[int]) -> Phase:
    """Progressive phase of a global step (resume-safe: a pure function of the step)."""
    start = 0
    for level, n in enumerate(steps_per_level, 1):
        if step < start + n or level == len(steps_per_level):
            return Phase(level, start, n)
        start += n
    raise ValueError("no phases")


def stage_at(step: int, steps: int, warmup: float = 0.1, period: int = 20, learn: int = 5,
             enabled: bool = True) -> int:
    """Training stage of a global step (resume-safe: a pure function of the step).

    0: plain rate-distortion; 1: uncertainty nets learn (codec keeps the plain loss);
    2: the codec learns with uncertainty-weighted distortion for every layer below the top.
    After a plain warm-up (``warmup`` of the run), each ``period`` steps begin with ``learn``
    stage-1 steps, and the rest are stage 2: guidance shapes 75% of the run by default, where
    the reference gave it 200 of 50,000 steps.
    """
    if not enabled or step < warmup * steps:
        return 0
    return 1 if (step - int(warmup * steps)) % period < learn else 2


@dataclass
class TrainConfig:
    """Hyper-parameters of one run; saved in every checkpoint."""

    mode: str = _opt("quality", "quality, spatial, spatial-quality or single",
                     choices=list(MODES))
    preset: str = _opt("cpu", "model size: paper, cpu, small or tiny "
                       "(docs/how-it-works.md, presets)")
    latent_codecs: list[str] | None = _opt(
        None, "latent codec per level, e.g. hyperprior conditional conditional conditional "
        "(default: the paper's factorized residual everywhere)", nargs="+", metavar="CODEC")
    prediction: str = _opt("crcm", "what predicts each level from the one below: crcm (the "
                           "paper's context mining) or plain (3 convolutions, the ablation "
                           "baseline)", choices=["crcm", "plain"])
    steps: int = _opt(10000, "training steps (the sum of --progressive when given)")
    batch: int = _opt(16, "crops per step")
    crop: int = _opt(64, "crop side (a multiple of the mode's padding: 16, spatial and "
                     "spatial-quality 64)")
    lr: float = _opt(1e-3, "learning rate of the networks")
    aux_lr: float = _opt(1e-3, "learning rate of the latent codecs' auxiliary parameters")
    clip: float = _opt(1.0, "gradient-norm clip")
    lambdas: list[float] | None = _opt(
        None, "rate multiplier per level (default: quality 240 120 45 20, spatial 500 300 150, "
        "spatial-quality 500 300 150 45 20, single: the quality top level's)", nargs="+")
    decay_at: float = _opt(0.85, "fraction of the run (of each progressive phase) after which "
                           "the lr drops 10x")
    rate_warmup: int = _opt(300, "steps over which the rate weight ramps from 0 to its lambda "
                            "(0: off)")
    seed: int = _opt(0, "random seed")
    data: str = _opt(str(DEFAULT_DATA), "folder of training images (never Kodak)")
    extra_data: str | None = _opt(
        None, "a second folder of training images (e.g. the train part of "
        "scripts/nonphoto/build.py's data set), mixed into every batch", metavar="DIR")
    extra_share: float = _opt(0.5, "--extra-data: the share of each batch's crops drawn from "
                              "it (0-1)")
    val_every: int = _opt(500, "validate every N steps")
    checkpoint_every: int = _opt(200, "checkpoint every N steps")
    threads: int = _opt(0, "torch threads (0: torch's default)")
    guidance: bool = _opt(True, "plain rate-distortion only (the ablation baseline)",
                          flag="--no-guidance")
    device: str = _opt("cpu", "cpu or cuda")
    progressive: list[int] | None = _opt(
        None, "train level by level (quality mode): steps for each level", nargs="+",
        metavar="STEPS")
    grow_from: int = _opt(2, "progressive: levels >= K start as copies of the level below",
                          metavar="K")
    init: str | None = _opt(None, "start from these weights (an exported .pt or a checkpoint)",
                            metavar="FILE")
    minutes: float | None = _opt(None, "time budget: after 40 steps the schedule (--steps, or "
                                 "the --progressive phases) is fitted to it, shortened again "
                                 "if the steps slow down (not progressive), and the run stops "
                                 "at it")
    init_levels: list[str] | None = _opt(
        None, "spatial: start level k from single-layer model k (shipped name or .pt), its "
        "prediction zeroed, so training starts at simulcast", nargs="+", metavar="MODEL")
    freeze_levels: int = _opt(
        0, "keep the first K levels exactly as --init gave them (weights and coding tables), "
        "e.g. a spatial-quality model's spatial levels", metavar="K")

    def __post_init__(self) -> None:
        if self.progressive:
            self.steps = sum(self.progressive)

    def model_config(self) -> ModelConfig:
        """The architecture this run trains: the preset with the chosen latent codecs."""
        return replace(preset(self.mode, self.preset),
                       latent_codecs=tuple(self.latent_codecs or ()), prediction=self.prediction)

    @property
    def layers(self) -> int:
        return preset(self.mode, self.preset).layers

    def phase_at(self, step: int) -> Phase:
        """The level a step trains: all of them at once unless training is progressive."""
        if self.progressive:
            return phase_at(step, self.progressive)
        return Phase(self.layers, 0, self.steps)

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
        lambdas = self.lambdas or {"spatial": SPATIAL_LAMBDAS,
                                   "spatial-quality": SPATIAL_QUALITY_LAMBDAS}.get(
                                       self.mode, QUALITY_LAMBDAS)
        return tuple(lambdas[-1:] if self.mode == "single" else lambdas)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``rpncodec train``'s options: one per :class:`TrainConfig` field, then the run's."""
    for f in fields(TrainConfig):
        meta = dict(f.metadata)
        flag = meta.pop("flag", "--" + f.name.replace("_", "-"))
        default = f.default if f.default is not MISSING else None
        if f.type == "bool":
            p.add_argument(flag, dest=f.name, action="store_false" if default else "store_true",
                           **meta)
            continue
        kind = {"int": int, "float": float}.get(f.type.split(" ")[0].removeprefix("list[")
                                               .removesuffix("]"), str)
        p.add_argument(flag, dest=f.name, type=kind, default=default, **meta)
    p.add_argument("--out", required=True, help="run directory (checkpoint, log, export)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--export", metavar="FILE", help="also export the final model to FILE")


def from_arguments(args: argparse.Namespace) -> TrainConfig:
    """The config the parsed options describe."""
    return TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
