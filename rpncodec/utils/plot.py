"""``rpncodec plot``: PSNR-RGB and MS-SSIM against bpp for results JSONs (matplotlib).

A single-layer sweep is a line through its rate points. A layered result is a line through
its layers with one marker shape per layer (circle, square, triangle, diamond, ...), so each
layer of the RPN can be read next to the anchor's point or curve; where a layered file holds
several rate points per layer (a grid), each layer is its own line. Spatial layers are at
their own resolutions (bpp over that layer's pixels), which the legend says.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from ..errors import RpncodecError
from ..imageio import atomic_write_bytes
from .bdrate import results_mode

LAYER_MARKERS = "os^Dv<>p"


def _load(path: str) -> dict:
    try:
        report = json.loads(Path(path).read_text())
        if not isinstance(report["results"]["bpp"], list):
            raise TypeError("results.bpp is not a list")
        return report
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RpncodecError(f"cannot read results from {path} ({exc})") from None


def _series(report: dict, key: str) -> list[tuple[int, list[float], list[float]]]:
    """(layer, bpps, values) lines of one report for one metric (null values left out)."""
    r = report["results"]
    layers = r.get("layer", list(range(1, len(r["bpp"]) + 1)))
    mode = results_mode(report)
    points = [(int(k), b, v) for k, b, v in zip(layers, r["bpp"], r[key], strict=True)
              if v is not None]
    if mode == "single" or len(set(layers)) == len(layers):
        return [(0, [p[1] for p in points], [p[2] for p in points])]  # one line
    return [(k, [p[1] for p in points if p[0] == k], [p[2] for p in points if p[0] == k])
            for k in sorted({p[0] for p in points})]


def plot(paths: list[str], output: str | Path, title: str | None = None) -> None:
    """Write a PNG with PSNR-RGB and MS-SSIM against bpp for every results file."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    reports = [_load(p) for p in paths]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    for i, report in enumerate(reports):
        color = f"C{i % 10}"
        r = report["results"]
        layers = r.get("layer", list(range(1, len(r["bpp"]) + 1)))
        mode = results_mode(report)
        label = report["name"] + ("" if mode == "single" else f" ({mode}, layers 1-{max(layers)})")
        for ax, key in zip(axes, ("psnr-rgb", "ms-ssim-rgb"), strict=True):
            for n, (layer, bpp, values) in enumerate(_series(report, key)):
                if not bpp:
                    continue
                line_label = label if n == 0 else None
                if mode == "single":
                    ax.plot(bpp, values, "-", marker=".", color=color, label=line_label)
                elif layer == 0:  # one point per layer: a line through the layers
                    ax.plot(bpp, values, "-", color=color, alpha=0.6, label=line_label)
                    point_layers = [k for k, v in zip(layers, r[key], strict=True)
                                    if v is not None]
                    for k, b, v in zip(point_layers, bpp, values, strict=True):
                        ax.plot([b], [v], LAYER_MARKERS[(k - 1) % len(LAYER_MARKERS)],
                                color=color, markersize=7)
                else:
                    ax.plot(bpp, values, "--", marker=LAYER_MARKERS[(layer - 1) % 8],
                            color=color, label=f"{report['name']} layer {layer}")
    for ax, name in zip(axes, ("PSNR-RGB (dB)", "MS-SSIM"), strict=True):
        ax.set_xlabel("bpp (bytes needed for the layer x 8 / the layer's pixels)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    markers = ", ".join(f"{m} = layer {k}" for k, m in enumerate("○□△◇", 1))
    fig.suptitle(title or f"rate-distortion; layered results: {markers}", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(output, buf.getvalue())
