"""Would a smarter quantiser pay on a shipped model? Two probes on its Gaussian levels, real
bytes and pixels, nothing retrained.

    .venv/bin/python scripts/quantization_probe.py offsets [--model rpn-quality-cond]
        [--fit 20] [--alphas 1 0.2 -0.2]
    .venv/bin/python scripts/quantization_probe.py rdoq [--model rpn-quality-cond]
        [--mus 0.05,0.05,0.05,0.05 0.1,0,0,0 ...]

``offsets`` (decoder side): a symbol ``s != 0`` decodes to ``s`` on the grid, yet the latent it
came from sits on average well inside the bin, nearer zero. The mean in-bin position per scale
table and ``|s|`` (1, 2, 3+) is measured on ``--fit`` BSDS500 training images, and the held-out
images' syntheses read ``ŷ + alpha * sign(s) * that`` instead of ``ŷ`` (the coded bytes do not
change). ``rdoq`` (encoder side, the decoder unchanged): a symbol's magnitude drops by one when
the latent's squared error grows by less than ``mu`` times the bits it saves under its own
table; one ``mu`` per level, comma-separated. Both print each layer's change in bytes and PSNR
on the held-out BSDS500 images (every 50th file, never trained on) against plain rounding.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rpncodec.entropy.coding import LEVELS, join_parts, scale_indices
from rpncodec.entropy.quantization import round_half_up
from rpncodec.imageio import list_images, load_image
from rpncodec.latent_codecs import ConditionalResidual, HyperpriorLatent
from rpncodec.layers.cache import in_dtype
from rpncodec.models.base import LayeredModel
from rpncodec.models.level import Level
from rpncodec.training.config import DEFAULT_DATA
from rpncodec.training.data import split_holdout
from rpncodec.zoo import load_model

MAGNITUDES = 3  # in-bin offsets are measured for |s| = 1, 2 and 3+


def residual_scale(level: Level, y: Tensor, lower: Tensor | None) -> tuple[Tensor, Tensor, bytes]:
    """What a Gaussian level rounds (the latent minus its mean), the scales, and its side bytes."""
    codec = level.latent_codec
    context = level.context(lower, y.shape[-2:])
    if isinstance(codec, HyperpriorLatent):
        z = in_dtype(codec.h_a, y.dtype)(torch.abs(y))
        shift, scale = codec._shift_scale(codec.z_bottleneck.quantize(z), y.shape[-2:])
        return y - shift, scale, codec.z_bottleneck.compress(z)
    if isinstance(codec, ConditionalResidual):
        shift, scale = codec._shift_scale(context, y.shape[-2:])
        return codec._residual(y, context) - shift, scale, b""
    raise SystemExit(f"level codec {type(codec).__name__} is not Gaussian")


def code(model: LayeredModel, x: Tensor, quantize=None) -> list[tuple[int, Tensor, dict]]:
    """Per layer: cumulative bytes, the decoded latent, and per level what the probes need
    (the rounded residual ``r``, symbols ``s`` and table indices ``idx``). ``quantize(k, r,
    scale, gaussian)`` replaces plain rounding."""
    inputs = model.level_inputs(x, model.layers)
    out, lower, total = [], None, 0
    for k, level in enumerate(model.levels):
        y = level.analysis(inputs[k]).double()
        r, scale, side = residual_scale(level, y, lower)
        s = quantize(k, r, scale, level.latent_codec.gaussian) if quantize else round_half_up(r)
        total += len(join_parts(side, level.latent_codec.gaussian.compress(s, scale)))
        lower = y - (r - s)  # the decoded latent: mean + s (to the last float bit)
        idx = scale_indices(scale.numpy().reshape(-1)).reshape(scale.shape)
        out.append((total, lower, {"r": r.numpy(), "s": s.numpy(), "idx": idx}))
    return out


def psnr(model: LayeredModel, k: int, latents: list[Tensor], target: Tensor) -> float:
    mse = float(((model._synthesize(k, latents).clamp(0, 1) - target) ** 2).mean())
    return 10 * np.log10(1 / mse)


def images(files: list[Path], multiple: int) -> list[Tensor]:
    """Each image cut to a multiple of the model's padding (top left), as [1, 3, H, W]."""
    out = []
    for f in files:
        a = load_image(f)
        h, w = a.shape[0] // multiple * multiple, a.shape[1] // multiple * multiple
        out.append(torch.from_numpy(a[:h, :w].astype(np.float32) / 255).permute(2, 0, 1)[None])
    return out


def report(name: str, base: np.ndarray, test: np.ndarray) -> None:
    """Mean bytes and PSNR per layer (rows: images; columns: layers) against the baseline."""
    (b0, p0), (b1, p1) = base.mean(0), test.mean(0)
    print(f"{name}: bytes {np.round(100 * (b1 / b0 - 1), 2)}%  PSNR {np.round(p1 - p0, 3)} dB")


def evaluate(model: LayeredModel, xs: list[Tensor], quantize=None, correct=None) -> np.ndarray:
    """[images, 2 (bytes, PSNR), layers]; ``correct(k, latent, info)`` moves what the syntheses
    read."""
    rows = []
    for x in xs:
        coded = code(model, x, quantize)
        latents = [correct(k, lat, info) if correct else lat
                   for k, (_, lat, info) in enumerate(coded)]
        rows.append([[c[0] for c in coded],
                     [psnr(model, k, latents, t)
                      for k, t in enumerate(model.level_inputs(x, model.layers))]])
    return np.asarray(rows)


def in_bin_offsets(model: LayeredModel, xs: list[Tensor]) -> np.ndarray:
    """[levels, tables, MAGNITUDES + 1]: mean of ``sign(s) * (r - s)`` (0 for ``s = 0``)."""
    sums = np.zeros((model.layers, LEVELS, MAGNITUDES + 1))
    counts = np.zeros_like(sums)
    for x in xs:
        for k, (_, _, info) in enumerate(code(model, x)):
            m = np.minimum(np.abs(info["s"]), MAGNITUDES).astype(int).ravel()
            d = (np.sign(info["s"]) * (info["r"] - info["s"])).ravel()
            np.add.at(sums[k], (info["idx"].ravel(), m), d)
            np.add.at(counts[k], (info["idx"].ravel(), m), 1)
    offsets = sums / (counts + 20)  # shrunk towards 0 where a table is rarely used
    offsets[..., 0] = 0
    return offsets


def rdoq(mus: list[float]):
    """The ``quantize`` of the rdoq probe: lower ``|s|`` by one where it pays under ``mu``."""
    def quantize(k: int, r: Tensor, scale: Tensor, gaussian) -> Tensor:
        s = round_half_up(r)
        if not mus[k]:
            return s
        freqs = gaussian.freqs.numpy().astype(np.float64)
        with np.errstate(divide="ignore"):
            table_bits = -np.log2(freqs / freqs[0].sum())
        idx = scale_indices(scale.numpy().ravel()).astype(int)
        col0 = gaussian.offsets.numpy()[idx]
        sn, rn = s.numpy().ravel().astype(int), r.numpy().ravel()

        def bits(v: np.ndarray) -> np.ndarray:
            col = v + col0
            inside = (col >= 0) & (col < freqs.shape[1])
            out = np.full(v.shape, 40.0)  # an escape: expensive, never chosen
            out[inside] = table_bits[idx[inside], col[inside]]
            return np.where(np.isfinite(out), out, 40.0)

        lower = sn - np.sign(sn)
        worse = 2 * (np.abs(rn) - np.abs(sn)) + 1  # growth of the squared error, in [0, 2)
        move = (sn != 0) & (worse < mus[k] * (bits(sn) - bits(lower)))
        return torch.from_numpy(np.where(move, lower, sn).reshape(s.shape)).to(r)
    return quantize


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("probe", choices=["offsets", "rdoq"])
    p.add_argument("--model", default="rpn-quality-cond")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--fit", type=int, default=20, help="training images to measure offsets on")
    p.add_argument("--alphas", type=float, nargs="+", default=[1.0, 0.2, -0.2])
    p.add_argument("--mus", nargs="+", default=["0.05,0.05,0.05,0.05", "0.1,0,0,0",
                                                "0,0.1,0,0", "0,0,0.1,0", "0,0,0,0.1"])
    args = p.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model).model
    train, held_out = split_holdout(list_images(args.data))
    xs = images(held_out, model.pad_multiple)
    with torch.inference_mode():
        base = evaluate(model, xs)
        print(f"held-out ({len(xs)} images) bytes {base.mean(0)[0].round()} "
              f"PSNR {base.mean(0)[1].round(3)}")
        if args.probe == "offsets":
            offsets = in_bin_offsets(model, images(train[:args.fit], model.pad_multiple))
            for alpha in args.alphas:
                def correct(k, lat, info, alpha=alpha):
                    m = np.minimum(np.abs(info["s"]), MAGNITUDES).astype(int)
                    shift = alpha * np.sign(info["s"]) * offsets[k][info["idx"], m]
                    return lat + torch.from_numpy(shift).to(lat)
                report(f"alpha {alpha}", base, evaluate(model, xs, correct=correct))
        else:
            for spec in args.mus:
                mus = [float(v) for v in spec.split(",")]
                report(f"mu {spec}", base, evaluate(model, xs, quantize=rdoq(mus)))


if __name__ == "__main__":
    main()
