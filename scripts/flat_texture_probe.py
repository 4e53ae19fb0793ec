"""How a model decodes a flat colour: the mean colour it gives back and the texture it adds,
with the share of that texture's energy at periods dividing 16 (the synthesis' total stride,
i.e. the checkerboard of its stride-2 upsampling).

    .venv/bin/python scripts/flat_texture_probe.py [MODEL ...]   # default: the quality models
"""

from __future__ import annotations

import sys

import numpy as np

import rpncodec
from rpncodec.registry import REGISTRY

COLOURS = [(251, 40, 184), (20, 120, 250), (255, 255, 0), (128, 128, 128)]
SIDE, STRIDE, MARGIN = 256, 16, 32  # the margin keeps the image border out of the spectrum


def stride_share(channel: np.ndarray) -> float:
    """Share of the (mean-free) interior's spectral energy at periods dividing STRIDE."""
    inner = channel[MARGIN:-MARGIN, MARGIN:-MARGIN]
    power = np.abs(np.fft.fft2(inner - inner.mean())) ** 2
    n = inner.shape[0]
    grid = np.zeros_like(power, bool)
    grid[:: n // STRIDE, :: n // STRIDE] = True
    return float(power[grid].sum() / power.sum()) if power.sum() else 0.0


def probe(model: str) -> None:
    for colour in COLOURS:
        image = np.empty((SIDE, SIDE, 3), np.uint8)
        image[:] = colour
        data = rpncodec.encode(image, model=model)
        info = rpncodec.info(data)
        for layer in (1, info.layers[-1].layer):
            x = np.asarray(rpncodec.decode(data, layers=layer)).astype(np.float64)
            mean = x.reshape(-1, 3).mean(0)
            std = x[MARGIN:-MARGIN, MARGIN:-MARGIN].reshape(-1, 3).std(0).mean()
            share = np.mean([stride_share(x[..., c]) for c in range(3)])
            print(f"| {model} | {colour} | {layer} | {info.layers[layer - 1].end} | "
                  f"{tuple(round(float(v), 1) for v in mean)} | {std:.2f} | {share:.0%} |")


def main(names: list[str]) -> int:
    names = names or [e.name for e in REGISTRY.values() if e.mode == "quality" and e.auto]
    print("| model | colour | layer | bytes | mean decoded colour | texture std | "
          "texture energy at periods dividing 16 |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        probe(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
