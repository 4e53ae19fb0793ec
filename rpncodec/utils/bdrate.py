"""``rpncodec bdrate``: Bjontegaard deltas between two results JSONs, per layer where it can.

Interpolation: ``pchip`` (piecewise cubic Hermite through log-rate against quality, the
``bjontegaard`` package's ``bd_rate``/``bd_psnr``). It is monotone, so it never invents the
overshoots that the classic cubic polynomial fit makes with few or unevenly spaced points
(a layered codec gives 3-4 points per curve, a per-layer curve sometimes only 2), and it goes
through every measured point. The integral runs over the range of quality both curves cover.

What is compared with what:

- both files layered (mode ``quality``, ``spatial`` or ``spatial-quality``, the same mode and
  layer count):
  layer k of the test against layer k of the anchor. A layer's curve is its points across
  the files given (several models or rate points make a curve; ``a.json,b.json`` joins files);
- one side layered, the other a single-layer sweep or a layered result of another mode: each
  full-resolution layer of the layered side against the other side's full-resolution points,
  and (several full-resolution layers) all of them as one curve;
- two sweeps: curve against curve.

With a single point on one side, the delta is read off the other side's curve at that point
(the rate the curve needs for the point's quality, and its quality at the point's rate): the
limit of BD-rate for a one-point curve. With a single point on both sides at the same rate
(within 3%: a matched anchor) only the quality difference is defined. Points that do not raise
both rate and quality over the previous one (a layer that adds nothing) are dropped, since
the interpolation needs a monotone curve. Negative BD-rate = the test needs fewer bits.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import RpncodecError

METHOD = "pchip"
SAME_RATE = 0.03  # relative rate difference under which two single points count as matched
METRICS = {"psnr": "psnr-rgb", "ms-ssim": "ms-ssim-rgb"}


@dataclass
class Results:
    """One or more results JSONs of one codec: its points grouped by layer."""

    name: str
    mode: str  # quality, spatial, spatial-quality or single
    layers: dict[int, list[tuple[float, float]]] = field(default_factory=dict)  # (bpp, quality)

    @property
    def layered(self) -> bool:
        return self.mode in ("quality", "spatial", "spatial-quality")

    def full_size_layers(self) -> list[int]:
        """The layers that decode at full size (layer shift 0)."""
        from ..bitstream import default_shifts

        ks = sorted(self.layers)
        return [k for k, s in zip(ks, default_shifts(self.mode, len(ks)), strict=True) if not s]

    def all_points(self) -> list[tuple[float, float]]:
        return [p for points in self.layers.values() for p in points]


def results_mode(report: dict) -> str:
    """A results JSON's mode (``quality``, ``spatial`` or ``single``): its ``mode`` field, or
    for files written before that field existed, ``single`` if it is a sweep (it has a
    ``setting`` list) and ``quality`` otherwise. The one place that fallback is written."""
    if "mode" in report:
        return str(report["mode"])
    return "single" if "setting" in report.get("results", {}) else "quality"


def quality_value(metric: str, value: float) -> float:
    """The quality axis: PSNR in dB, MS-SSIM as -10 log10(1 - MS-SSIM) dB (its usual BD scale)."""
    if metric == "ms-ssim":
        return -10 * math.log10(max(1 - value, 1e-12))
    return value


def load_results(spec: str, metric: str = "psnr") -> Results:
    """Read ``a.json`` or ``a.json,b.json`` (files of one codec, joined into one set of curves)."""
    out: Results | None = None
    for path in spec.split(","):
        try:
            report = json.loads(Path(path).read_text())
            r = report["results"]
            bpps, values = r["bpp"], r[METRICS[metric]]
            layers = r.get("layer", list(range(1, len(bpps) + 1)))
            name, mode = str(report["name"]), results_mode(report)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RpncodecError(f"cannot read results from {path} ({exc})") from None
        if out is None:
            out = Results(name, mode)
        elif mode != out.mode:
            raise RpncodecError(f"{path} is a {mode} result; cannot join it with {out.mode}")
        if mode == "single":
            layers = [1] * len(bpps)
        for layer, bpp, value in zip(layers, bpps, values, strict=True):
            points = out.layers.setdefault(int(layer), [])  # a layer without values stays
            if value is not None and bpp and bpp > 0:
                points.append((float(bpp), quality_value(metric, float(value))))
    assert out is not None
    return out


def monotone(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points sorted by rate, keeping only those that raise both rate and quality."""
    kept: list[tuple[float, float]] = []
    for bpp, q in sorted(points):
        if not kept or (bpp > kept[-1][0] and q > kept[-1][1]):
            kept.append((bpp, q))
    return kept


def _interp(x: list[float], y: list[float], at: float) -> float | None:
    """pchip of y(x) at ``at``, None outside the measured range."""
    from scipy.interpolate import PchipInterpolator

    if not x[0] <= at <= x[-1]:
        return None
    if len(x) == 1:
        return y[0]
    return float(PchipInterpolator(x, y)(at))


def compare_curves(test: list[tuple[float, float]], anchor: list[tuple[float, float]]) -> dict:
    """BD-rate (%) and BD-quality (dB) of ``test`` against ``anchor``, with how they were got."""
    t, a = monotone(test), monotone(anchor)
    row: dict = {"test": _span(t), "anchor": _span(a), "bd_rate": None, "bd_quality": None}
    if not t or not a:
        return {**row, "how": "no points"}
    if len(t) >= 2 and len(a) >= 2:
        import bjontegaard as bd

        args = ([p[0] for p in a], [p[1] for p in a], [p[0] for p in t], [p[1] for p in t])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                row["bd_rate"] = float(bd.bd_rate(*args, method=METHOD,
                                                  require_matching_points=False))
                row["bd_quality"] = float(bd.bd_psnr(*args, method=METHOD,
                                                     require_matching_points=False))
            except (ValueError, ZeroDivisionError) as exc:
                return {**row, "how": f"no overlap ({exc})"}
        overlap = any("overlap" in str(w.message).lower() for w in caught)
        return {**row, "how": f"{METHOD}" + (", small overlap" if overlap else "")}
    if len(t) == 1 and len(a) == 1:
        (rt, qt), (ra, qa) = t[0], a[0]
        if abs(rt / ra - 1) <= SAME_RATE:
            return {**row, "bd_quality": qt - qa, "how": "same rate"}
        return {**row, "how": "one point each at different rates"}
    # one point against a curve: read the curve at the point
    point, curve, sign = (t[0], a, 1) if len(t) == 1 else (a[0], t, -1)
    logr = [math.log(p[0]) for p in curve]
    qual = [p[1] for p in curve]
    rate_at = _interp(qual, logr, point[1])
    quality_at = _interp(logr, qual, math.log(point[0]))
    if rate_at is not None:
        row["bd_rate"] = 100 * (math.exp(sign * (math.log(point[0]) - rate_at)) - 1)
    if quality_at is not None:
        row["bd_quality"] = sign * (point[1] - quality_at)
    how = "point on curve" if rate_at is not None or quality_at is not None \
        else "point outside the curve's range"
    return {**row, "how": how}


def _span(points: list[tuple[float, float]]) -> dict | None:
    if not points:
        return None
    return {"bpp": [points[0][0], points[-1][0]], "quality": [points[0][1], points[-1][1]],
            "points": len(points)}


def codec_specs(paths: list[Path]) -> dict[str, str]:
    """Results files grouped by their ``name``: one ``load_results`` spec per codec, so that
    several files of one codec (two simulcast rate points, a sweep and its matched run) make
    one set of curves."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        groups.setdefault(str(json.loads(Path(path).read_text())["name"]), []).append(str(path))
    return {name: ",".join(files) for name, files in groups.items()}


def comparable(test: Results, anchor: Results) -> bool:
    """Whether a BD table should compare these: two layered results only in the same mode,
    a layered result with any sweep, a sweep only with sweeps (the layered side's table has
    that comparison)."""
    if not test.layered:
        return not anchor.layered
    return not anchor.layered or anchor.mode == test.mode


def bdrate(test: Results, anchor: Results) -> list[dict]:
    """Rows of the comparison (see the module docstring for what is compared)."""
    rows = []
    if test.layered and anchor.layered and test.mode == anchor.mode \
            and set(test.layers) == set(anchor.layers):
        for k in sorted(test.layers):
            rows.append({"layer": str(k), **compare_curves(test.layers[k], anchor.layers[k])})
        return rows
    if not test.layered and not anchor.layered:
        return [{"layer": "curve", **compare_curves(test.all_points(), anchor.all_points())}]
    layered, other, flip = (test, anchor, False) if test.layered else (anchor, test, True)
    # full-resolution layers only: the top one of a spatial stream, every one in quality mode
    full = layered.full_size_layers()
    other_points = ([p for k in other.full_size_layers() for p in other.layers[k]]
                    if other.layered else other.all_points())
    for k in full:
        pair = (layered.layers[k], other_points)
        rows.append({"layer": str(k), **compare_curves(*(pair[::-1] if flip else pair))})
    if len(full) > 1:
        pair = ([p for k in full for p in layered.layers[k]], other_points)
        rows.append({"layer": "all", **compare_curves(*(pair[::-1] if flip else pair))})
    return rows


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def format_rows(test: Results, anchor: Results, rows: list[dict], metric: str = "psnr") -> str:
    """A small text table of :func:`bdrate`'s rows."""
    unit = "PSNR-RGB dB" if metric == "psnr" else "MS-SSIM dB"
    lines = [f"{test.name} ({test.mode}) vs {anchor.name} ({anchor.mode}); {unit}; BD by "
             f"{METHOD}; negative BD-rate = {test.name} needs fewer bits",
             "layer  test bpp        test dB        anchor bpp      anchor dB      "
             "BD-rate %  BD-dB   how"]
    for r in rows:
        cells = []
        for side in ("test", "anchor"):
            s = r[side]
            if s is None:
                cells += ["-", "-"]
            elif s["points"] == 1:
                cells += [f"{s['bpp'][0]:.4f}", f"{s['quality'][0]:.2f}"]
            else:
                cells += [f"{s['bpp'][0]:.3f}-{s['bpp'][1]:.3f}",
                          f"{s['quality'][0]:.2f}-{s['quality'][1]:.2f}"]
        lines.append(f"{r['layer']:<6} {cells[0]:<15} {cells[1]:<14} {cells[2]:<15} "
                     f"{cells[3]:<14} {_fmt(r['bd_rate'], '+.1f'):>9}  "
                     f"{_fmt(r['bd_quality'], '+.2f'):>6}  {r['how']}")
    return "\n".join(lines)


def to_json(test: Results, anchor: Results, rows: list[dict], metric: str) -> dict:
    """The comparison as a JSON-able dict."""
    return {"test": test.name, "anchor": anchor.name, "metric": metric, "method": METHOD,
            "rows": [{**r, "bd_rate": None if r["bd_rate"] is None
                      or not np.isfinite(r["bd_rate"]) else r["bd_rate"]} for r in rows]}
