"""Would a context model pay on a shipped model? A probe on frozen latents, before building
one into the codec.

    .venv/bin/python scripts/context_probe.py [--model rpn-quality-cond] [--levels 4]
        [--context checkerboard|channels] [--means] [--steps 800]
        [--json results/context_probe/NAME.json]

Per level, the model's own scales (and means) are kept for what is coded first, and small
heads correct the scale (with ``--means`` also the mean) of the rest from the log-scales and
what is already decoded: ``checkerboard`` (He et al. 2021), the *anchors* (i + j even) first,
then the other half from them; ``channels`` (Minnen & Singh 2020), four slices of channels in
turn, each from the slices before it. Only the heads train (Adam 1e-3, 16 crops
of 256x256 per step from 512 BSDS500 training crops); the held-out crops' estimated bits of
each level's latent (side information excluded: it does not change) are printed every 250
steps, beside the model's own at step 0. Rounding around a moved mean also moves the decoded
latent, which this probe does not charge (a joint fine-tune would settle it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rpncodec.entropy.gaussian import likelihood
from rpncodec.imageio import list_images
from rpncodec.latent_codecs import HyperpriorLatent
from rpncodec.training.config import DEFAULT_DATA
from rpncodec.training.data import CropDataset, center_crops, split_holdout
from rpncodec.training.heads import level_tensors
from rpncodec.zoo import load_model


def anchors_of(size: tuple[int, int]) -> Tensor:
    i, j = torch.arange(size[0]).view(-1, 1), torch.arange(size[1]).view(1, -1)
    return ((i + j) % 2 == 0).view(1, 1, *size)


SLICES = 4


def parts(context: str, r: Tensor) -> list[Tensor]:
    """Boolean masks (broadcastable to ``r``) of what is coded in each pass, in order."""
    if context == "checkerboard":
        anchors = anchors_of(r.shape[-2:])
        return [anchors, ~anchors]
    channel = torch.arange(r.shape[1]).view(1, -1, 1, 1)
    step = r.shape[1] // SLICES
    return [(channel >= s * step) & (channel < (s + 1) * step) for s in range(SLICES)]


def head(channels: int) -> nn.Sequential:
    last = nn.Conv2d(channels, 2 * channels, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Conv2d(2 * channels, channels, 5, padding=2), nn.ReLU(),
                         nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(), last)


@torch.no_grad()
def residual_and_scale(codec, y: Tensor, context) -> tuple[Tensor, Tensor]:
    """The mean-centred latent and its scales, as the codec computes them at coding."""
    if isinstance(codec, HyperpriorLatent):
        z_hat = codec.z_bottleneck.quantize(codec.h_a(torch.abs(y)))
        offset, scale = codec._shift_scale(z_hat, y.shape[-2:])
        return y - offset, scale
    offset, scale = codec._shift_scale(context, y.shape[-2:])
    return codec._residual(y, context) - offset, scale


def level_bits(nets: nn.ModuleList, r: Tensor, scale: Tensor, context: str, means: bool,
               train: bool) -> Tensor:
    """Bits per crop of one level: the first pass under the model's scales, each later pass
    under scales (and means) corrected from what the passes before it decoded."""
    c = r.shape[1]
    masks = parts(context, r)
    rounded = torch.floor(r + 0.5)
    log_scale = torch.log(scale)
    lik = likelihood(rounded, scale)
    known = masks[0]
    for net, mask in zip(nets, masks[1:], strict=True):
        out = net(torch.cat([log_scale, rounded * known], 1))
        x = r - out[:, c:] if means else r
        q = x + torch.empty_like(x).uniform_(-0.5, 0.5) if train else torch.floor(x + 0.5)
        lik = torch.where(mask, likelihood(q, torch.exp(log_scale + out[:, :c])), lik)
        known = known | mask
    return -torch.log2(lik).sum() / r.shape[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="rpn-quality-cond")
    p.add_argument("--levels", type=int, default=4, help="probe the first N levels")
    p.add_argument("--context", choices=["checkerboard", "channels"], default="checkerboard")
    p.add_argument("--means", action="store_true", help="the heads also move the means")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--json", help="write the log here")
    args = p.parse_args()
    torch.manual_seed(0)
    model = load_model(args.model).model
    codecs = [level.latent_codec for level in model.levels][: args.levels]
    train_files, val_files = split_holdout(list_images(DEFAULT_DATA))
    data, gen = CropDataset(train_files, 256), torch.Generator().manual_seed(0)
    batches = [[residual_and_scale(c, y, ctx) for c, (y, ctx) in
                zip(codecs, level_tensors(model, data.batch(16, gen)), strict=False)]
               for _ in range(32)]
    val = [residual_and_scale(c, y, ctx) for c, (y, ctx) in
           zip(codecs, level_tensors(model, center_crops(val_files, 256, model.pad_multiple)),
               strict=False)]
    passes = 2 if args.context == "checkerboard" else SLICES
    nets = nn.ModuleList(nn.ModuleList(head(c.offset.numel()) for _ in range(passes - 1))
                         for c in codecs)

    def validate() -> list[float]:
        with torch.no_grad():
            return [round(float(level_bits(n, r, s, args.context, args.means, False)), 1)
                    for n, (r, s) in zip(nets, val, strict=True)]

    log = [{"step": 0, "val_bits": validate()}]
    print(log[-1], flush=True)
    opt = torch.optim.Adam(nets.parameters(), lr=1e-3)
    begun = time.monotonic()
    for step in range(1, args.steps + 1):
        loss = sum(level_bits(n, r, s, args.context, args.means, True)
                   for n, (r, s) in zip(nets, batches[step % len(batches)], strict=True))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0 or step == args.steps:
            log.append({"step": step, "seconds": round(time.monotonic() - begun),
                        "val_bits": validate()})
            print(log[-1], flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "log": log}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
