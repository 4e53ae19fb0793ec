"""Repair collapsed upper levels of a quality checkpoint by extending the lower synthesis.

When levels above L carry (almost) no bits, their syntheses can still decode worse than layer
L. This starts synthesis k > L as an exact copy of synthesis L, with zero weights on the extra
input channels (so layer k decodes exactly like layer L), then fine-tunes only those syntheses
on the training crops: layer k can then only improve on layer L, using the extra inputs (the
prediction modules' resolution fields) as decoder capacity. Needs equal hidden widths.

    python scripts/extend_syntheses.py runs/q/checkpoint.pt --from-level 2 --steps 1500 \
        --out runs/q-ext --export q.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from rpncodec.losses import rate_distortion
from rpncodec.train import TrainConfig, Trainer, export


def extend(model: torch.nn.Module, base: int) -> list[torch.nn.Parameter]:
    """Make syntheses above level ``base`` (1-based) copies of synthesis ``base``; return their
    parameters."""
    source = model.syntheses[base - 1].state_dict()
    params = []
    for k in range(base, model.layers):
        target = model.syntheses[k]
        state = {n: v.clone() for n, v in source.items()}
        first = state["0.weight"]  # ConvTranspose2d: [in, out, kh, kw]
        grown = torch.zeros_like(target[0].weight)
        grown[: first.shape[0]] = first
        state["0.weight"] = grown
        target.load_state_dict(state)
        params += list(target.parameters())
    return params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint")
    ap.add_argument("--from-level", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--out", required=True)
    ap.add_argument("--export")
    args = ap.parse_args()
    state = torch.load(args.checkpoint, weights_only=True)
    cfg = TrainConfig(**{**state["config"], "guidance": False})
    trainer = Trainer(cfg, Path(args.out))
    trainer.model.load_state_dict(state["model"])
    trainer.gen.set_state(state["gen"])
    params = extend(trainer.model, args.from_level)
    for p in trainer.model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=args.lr)
    print("before", trainer.validate())
    for step in range(args.steps):
        trainer.model.train()
        x = trainer.data.batch(cfg.batch, trainer.gen)
        loss = rate_distortion(trainer.model(x), x, trainer.lambdas)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % 250 == 0:
            print(step + 1, trainer.validate(), flush=True)
    for p in trainer.model.parameters():
        p.requires_grad_(True)
    trainer.step = state["step"]
    trainer.save()
    if args.export:
        print("exported", args.export, export(trainer.model, Path(args.export)))


if __name__ == "__main__":
    main()
