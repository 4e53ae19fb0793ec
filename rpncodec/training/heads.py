"""Train new latent codecs on a trained model with every transform frozen.

``python -m rpncodec.training.heads --base rpn-quality-cpu --codecs hyperprior conditional
conditional conditional --minutes 8 --out runs/q-heads --export FILE``

The base model's analyses, predictions and syntheses are copied unchanged; each new latent
codec starts with its quantisation offset equal to the base model's per-channel medians, so
every decoded latent, and hence every layer's pixels, stays exactly the base model's: only the
bits change. Because nothing upstream of the entropy models trains, the latents and contexts of
the training crops are computed once, and the heads train on those tensors directly (seconds per
hundred steps instead of a network pass per step). What this buys is measured by
``rpncodec eval`` on the exported file; a joint fine-tune (``rpncodec train --init``) can follow.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from ..imageio import list_images
from ..latent_codecs import Context, FactorizedResidual
from ..models import LayeredModel, build_model
from ..models.objective import bits
from ..zoo import load_model
from .config import DEFAULT_DATA
from .data import CropDataset, center_crops, split_holdout
from .export import export


def convert(base: LayeredModel, codecs: list[str]) -> LayeredModel:
    """A model with ``base``'s transforms and new latent codecs (offsets at ``base``'s
    medians); a level whose codec name does not change keeps ``base``'s codec."""
    model = build_model(replace(base.config, latent_codecs=tuple(codecs)))
    copy_codecs(model, base)
    for new, old in zip(model.levels, base.levels, strict=True):
        for part in ("analysis", "synthesis", "prediction"):
            if getattr(old, part) is not None:
                getattr(new, part).load_state_dict(getattr(old, part).state_dict())
        if (isinstance(old.latent_codec, FactorizedResidual)
                and not isinstance(new.latent_codec, FactorizedResidual)):
            with torch.no_grad():
                new.latent_codec.offset.copy_(old.latent_codec.bottleneck.medians)
    return model


def copy_codecs(model: LayeredModel, source: LayeredModel) -> None:
    """Copy ``source``'s latent codec into every level of ``model`` that has the same one."""
    pairs = zip(model.levels, source.levels, model.config.latent_codecs,
                source.config.latent_codecs, strict=True)
    for level, other, name, other_name in pairs:
        if name == other_name:
            level.latent_codec.load_state_dict(other.latent_codec.state_dict())


@torch.no_grad()
def level_tensors(model: LayeredModel, x: torch.Tensor) -> list[tuple[torch.Tensor, Context]]:
    """Per level: the latent and the decoder's context for a batch, as inference computes
    them (rounded lower latents)."""
    model.eval()
    out, lower = [], None
    for level, level_input in zip(model.levels, model.level_inputs(x, model.layers),
                                  strict=True):
        y = level.analysis(level_input)
        context = level.context(lower, y.shape[-2:])
        lower, _ = level.latent_codec(y, context)
        out.append((y, context))
    return out


def train_heads(model: LayeredModel, batches: list[list[tuple]], val: list[tuple],
                minutes: float, log: Path, lr: float = 1e-3, steps: int | None = None) -> None:
    """Minimise each level's bits on the stored latents for ``minutes`` or ``steps``, whichever
    ends first (levels share the steps)."""
    codecs = [level.latent_codec for level in model.levels]
    for codec in codecs:
        codec.requires_grad_(True)
        if hasattr(codec, "offset"):
            codec.offset.requires_grad_(False)  # keeps the decoded latents the base model's
    aux = model.aux_parameters()
    main = [p for c in codecs for p in c.parameters()
            if p.requires_grad and not any(p is a for a in aux)]
    opt, aux_opt = torch.optim.Adam(main, lr=lr), torch.optim.Adam(aux, lr=1e-2)
    begun, step = time.monotonic(), 0
    while time.monotonic() - begun < minutes * 60 and (steps is None or step < steps):
        batch = batches[step % len(batches)]
        for codec in codecs:
            codec.train()
        loss = sum(bits(c(y, ctx)[1]) for c, (y, ctx) in zip(codecs, batch, strict=True))
        opt.zero_grad(set_to_none=True)
        (loss / batch[0][0].shape[0]).backward()
        opt.step()
        aux_loss = model.aux_loss()
        aux_opt.zero_grad(set_to_none=True)
        aux_loss.backward()
        aux_opt.step()
        step += 1
        if step % 200 == 0:
            record = {"step": step, "seconds": round(time.monotonic() - begun),
                      "val_bits_per_latent_image": validate_bits(codecs, val)}
            with open(log, "a") as f:
                f.write(json.dumps(record) + "\n")
            print(record, file=sys.stderr)


@torch.no_grad()
def validate_bits(codecs: list, val: list[tuple]) -> list[float]:
    """Estimated bits of each level on the held-out crops (rounded)."""
    for codec in codecs:
        codec.eval()
    n = val[0][0].shape[0]
    return [round(float(bits(c(y, ctx)[1])) / n, 1)
            for c, (y, ctx) in zip(codecs, val, strict=True)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rpncodec.training.heads", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="rpn-quality-cpu", help="model whose transforms are kept")
    p.add_argument("--codecs", nargs="+", required=True, help="latent codec per level")
    p.add_argument("--minutes", type=float, default=8.0)
    p.add_argument("--steps", type=int, help="stop after this many steps (equal-budget runs)")
    p.add_argument("--init", help="continue from this exported model's latent codecs (same "
                   "base), at the levels where its codec is the one asked for")
    p.add_argument("--crops", type=int, default=512, help="training crops (computed once)")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--export", required=True)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = load_model(args.base).model
    model = convert(base, args.codecs)
    if args.init:
        copy_codecs(model, load_model(args.init).model)
    train_files, val_files = split_holdout(list_images(args.data))
    data = CropDataset(train_files, args.crop)
    gen = torch.Generator().manual_seed(args.seed)
    batches = [level_tensors(model, data.batch(args.batch, gen))
               for _ in range(args.crops // args.batch)]
    val = level_tensors(model, center_crops(val_files, 256, model.pad_multiple))
    factorized = validate_bits([level.latent_codec for level in base.levels],
                               level_tensors(base, center_crops(val_files, 256,
                                                                model.pad_multiple)))
    print({"base_val_bits": factorized}, file=sys.stderr)
    with open(out / "log.jsonl", "a") as f:
        f.write(json.dumps({"base": args.base, "codecs": args.codecs,
                            "base_val_bits_per_latent_image": factorized}) + "\n")
    train_heads(model, batches, val, args.minutes, out / "log.jsonl", steps=args.steps)
    print(f"exported {args.export} sha256 {export(model, args.export)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
