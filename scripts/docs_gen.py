"""The generated parts of the documentation, computed from the code and from ``results/``.

``make docs`` calls these through ``scripts/mkdocs_hooks.py``: a page holds a marker such as
``<!-- gen: cli -->`` where the hook puts the text built here, and the single-layer model
cards are whole pages built here. Nothing is copied by hand, so the site cannot drift from
the parser, the weights or the results files. Run alone to print one part:

    .venv/bin/python scripts/docs_gen.py cli | status | card rpn-quality-cond | results:kodak-bd
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from rpncodec.models.config import (  # noqa: E402
    QUALITY_LAMBDAS,
    SPATIAL_LAMBDAS,
    SPATIAL_QUALITY_LAMBDAS,
)
from rpncodec.registry import REGISTRY, WEIGHTS_DIR  # noqa: E402

RESULTS = ROOT / "results"
SIZES = {"quality": ["full"] * 4, "spatial": ["1/4", "1/2", "full"], "single": ["full"],
         "spatial-quality": ["1/4", "1/2", "full", "full", "full"]}
SINGLE_MODELS = [n for n, e in REGISTRY.items() if e.mode == "single"]


# --- command-line reference -------------------------------------------------------------------

def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of every subcommand, in the order ``--help`` lists them."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help or "" for a in action._choices_actions}
    return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments a user types (not ``-h``)."""
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def options_without_help(parser: argparse.ArgumentParser | None = None) -> list[str]:
    """``"command option"`` for every argument of every subcommand that has no help text."""
    parser = parser or _parser()
    return [f"{name} {'/'.join(a.option_strings) or a.dest}"
            for name, _, sub in _subcommands(parser) for a in _options(sub)
            if not (a.help and a.help.strip()) and a.help != argparse.SUPPRESS]


def _parser() -> argparse.ArgumentParser:
    from rpncodec.cli import build_parser

    return build_parser()


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """Markdown for every subcommand: its help, usage line and a table of its arguments."""
    parser = parser or _parser()
    out = []
    for name, summary, sub in _subcommands(parser):
        out += [f"### `rpncodec {name}`", "", _cell(summary[:1].upper() + summary[1:]) + ".", "",
                "```text", " ".join(sub.format_usage().split()), "```", "",
                "| argument | default | what |", "|---|---|---|"]
        for a in _options(sub):
            if a.help == argparse.SUPPRESS:
                continue
            names = ", ".join(f"`{s}`" for s in a.option_strings) or f"`{a.metavar or a.dest}`"
            if a.option_strings and a.nargs != 0:
                names += f" `{a.metavar or a.dest.upper()}`"
            if a.choices:
                names += " (" + ", ".join(f"`{c}`" for c in a.choices) + ")"
            hidden = a.default is None or a.default is False or a.default == argparse.SUPPRESS
            default = "" if hidden or a.required else f"`{a.default}`"
            if a.required and a.option_strings:
                default = "required"
            out.append(f"| {names} | {default} | {_cell(a.help or '')} |")
        out.append("")
    return "\n".join(out)


# --- the default models' status (README and the site) -----------------------------------------

def _results(path: Path) -> dict | None:
    return json.loads(path.read_text())["results"] if path.exists() else None


def _gaps(model: Path, anchor: Path) -> dict[int, float]:
    """Layer -> PSNR difference to the anchor read at the model's own bytes (``rpncodec
    bdrate``'s one-point rule); layers where the anchor has other bytes are left out."""
    if not (model.exists() and anchor.exists()):
        return {}
    from rpncodec.utils.bdrate import bdrate, load_results

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = bdrate(load_results(str(model)), load_results(str(anchor)))
    return {int(r["layer"]): r["bd_quality"] for r in rows
            if str(r["layer"]).isdigit() and r["bd_quality"] is not None}


DEFAULTS = ("rpn-quality-cond", "rpn-spatial-cond", "rpn-spatial-quality")


def _anchor(folder: Path, name: str) -> Path:
    """The JPEG 2000 run matched to ``name``'s per-image bytes in ``folder``: its own
    ``<anchor>-<name>.json``, or for a default model the unsuffixed ``<anchor>.json``."""
    stem = {"quality": "jpeg2000-layered", "spatial": "jpeg2000-resolutions-matched",
            "spatial-quality": "jpeg2000-spatial-quality"}.get(REGISTRY[name].mode, "none")
    own = folder / f"{stem}-{name}.json"
    return own if own.exists() or name not in DEFAULTS else folder / f"{stem}.json"


def layer_rows(name: str, folder: Path) -> list[str]:
    """Per layer: resolution, bytes, bpp, PSNR-RGB, MS-SSIM and the gap to JPEG 2000 at the
    same bytes, from ``folder/<name>.json``; empty when there is no such file."""
    r = _results(folder / f"{name}.json")
    if r is None:
        return []
    gaps = _gaps(folder / f"{name}.json", _anchor(folder, name))
    sizes = SIZES[REGISTRY[name].mode]
    rows = []
    for i, k in enumerate(r["layer"]):
        m = r["ms-ssim-rgb"][i]
        gap = f"{gaps[k]:+.2f} dB" if k in gaps else "-"
        rows.append(f"| {k} | {sizes[i]} | {r['bytes'][i]:.0f} | {r['bpp'][i]:.4f} | "
                    f"{r['psnr-rgb'][i]:.2f} | {'-' if m is None else f'{m:.4f}'} | {gap} |")
    return rows


LAYER_HEAD = ("| layer | resolution | bytes | bpp | PSNR-RGB (dB) | MS-SSIM | "
              "gap to JPEG 2000 at the same bytes |\n|---|---|---|---|---|---|---|")


def status_table() -> str:
    """The default models, per layer, on Kodak and on the held-out BSDS500 photos."""
    lines = ["| model | layer (resolution) | Kodak: bytes / bpp / PSNR | Kodak: gap to JPEG 2000 "
             "| held-out: bytes / bpp / PSNR | held-out: gap to JPEG 2000 |",
             "|---|---|---|---|---|---|"]
    for name in DEFAULTS:
        cells = {}
        for key, folder in (("kodak", RESULTS / "kodak"), ("heldout", RESULTS / "heldout")):
            r = _results(folder / f"{name}.json")
            gaps = _gaps(folder / f"{name}.json", _anchor(folder, name))
            cells[key] = [(f"{r['bytes'][i]:.0f} / {r['bpp'][i]:.3f} / {r['psnr-rgb'][i]:.2f}",
                           f"{gaps[k]:+.2f} dB" if k in gaps else "-")
                          for i, k in enumerate(r["layer"])]
        for i, size in enumerate(SIZES[REGISTRY[name].mode]):
            label = f"`{name}`" if i == 0 else ""
            lines.append(f"| {label} | {i + 1} ({size}) | {cells['kodak'][i][0]} | "
                         f"{cells['kodak'][i][1]} | {cells['heldout'][i][0]} | "
                         f"{cells['heldout'][i][1]} |")
    return "\n".join(lines)


# --- model cards ------------------------------------------------------------------------------

def lambdas(name: str) -> list[float]:
    """The rate-distortion weights each layer was trained with (lower = more bits)."""
    entry = REGISTRY[name]
    if entry.mode == "quality":
        return list(QUALITY_LAMBDAS)
    if entry.mode == "spatial":
        return list(SPATIAL_LAMBDAS)
    if entry.mode == "spatial-quality":
        return list(SPATIAL_QUALITY_LAMBDAS)
    return [float(name.rsplit("-l", 1)[1])]


def model_facts(name: str) -> str:
    """The card's identity table: file, digest, size, parameters, configuration."""
    import torch

    entry = REGISTRY[name]
    path = WEIGHTS_DIR / entry.file
    data = path.read_bytes()
    saved = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    state, config = saved["state_dict"], saved["config"]
    floats = sum(t.numel() for t in state.values() if t.is_floating_point())
    tables = sum(t.numel() for t in state.values() if not t.is_floating_point())
    codecs = config.get("latent_codecs") or ["factorized"] * len(config["widths"])
    rows = [
        ("name", f"`{name}`" + (" (default)" if entry.default else "")),
        ("file", f"`rpncodec/weights/{entry.file}`, {len(data) / 1e6:.1f} MB"),
        ("sha256", f"`{hashlib.sha256(data).hexdigest()}`"),
        ("parameters", f"{floats:,} float16 network parameters ({floats / 1e6:.2f} M) and "
                       f"{tables:,} integer entropy-table entries"),
        ("mode", f"{entry.mode}, {entry.layers} layer{'s' if entry.layers > 1 else ''}"),
        ("layer resolutions", ", ".join(SIZES[entry.mode])),
        ("lambdas (per layer)", " / ".join(f"{v:g}" for v in lambdas(name))),
        ("widths (channels per level)", " / ".join(str(w) for w in config["widths"])),
        ("latent codec per level", " / ".join(f"`{c}`" for c in codecs)),
        ("prediction", f"`{config.get('prediction', 'crcm')}` (cross-resolution context "
                       "mining)" if entry.layers > 1 else "none (one level)"),
        ("ONNX export shipped", "yes (`rpncodec/weights/onnx/`)" if entry.onnx_manifest
         else "no: exported on first use into the cache (needs torch)"),
    ]
    assert entry.sha256 == hashlib.sha256(data).hexdigest(), f"{name}: registry sha256 differs"
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def card_results(name: str) -> str:
    """Per-layer results on Kodak and on the held-out photos (where measured)."""
    out = []
    for title, folder in (("Kodak (24 images)", RESULTS / "kodak"),
                          ("Held-out BSDS500 photos (10 images)", RESULTS / "heldout")):
        rows = layer_rows(name, folder)
        if rows:
            source = f"results/{folder.name}/{name}.json"
            out += [f"**{title}**, `{source}`:", "", LAYER_HEAD, *rows, ""]
    if name in SINGLE_MODELS:
        sweep = _results(RESULTS / "kodak" / "rpn-single-cpu.json")
        i = SINGLE_MODELS.index(name)  # the sweep's setting k is its k-th model, in this order
        bpp, psnr = sweep["bpp"][i], sweep["psnr-rgb"][i]
        gap = _gap_on_curve(bpp, psnr, RESULTS / "kodak" / "jpeg2000.json")
        out += [f"**Kodak (24 images)**, point {i + 1} of the sweep `results/kodak/"
                "rpn-single-cpu.json`; the gap is read off the JPEG 2000 sweep's curve at the "
                "same bpp:", "",
                "| bytes | bpp | PSNR-RGB (dB) | MS-SSIM | gap to JPEG 2000 at the same bpp |",
                "|---|---|---|---|---|",
                f"| {sweep['bytes'][i]:.0f} | {bpp:.4f} | {psnr:.2f} | "
                f"{sweep['ms-ssim-rgb'][i]:.4f} | {gap} |", ""]
    return "\n".join(out) if out else "Not evaluated on its own."


def _gap_on_curve(bpp: float, psnr: float, anchor: Path) -> str:
    """PSNR minus the anchor sweep's PSNR at ``bpp`` (pchip on log-rate, as ``bdrate``)."""
    import math

    from rpncodec.utils.bdrate import _interp, load_results, monotone

    points = monotone(load_results(str(anchor)).all_points())
    at = _interp([math.log(b) for b, _ in points], [q for _, q in points], math.log(bpp))
    return "-" if at is None else f"{psnr - at:+.2f} dB"


def card_agreement(name: str) -> str:
    """Backend agreement rows of ``results/backend_agreement.json``."""
    rows = [r for r in json.loads((RESULTS / "backend_agreement.json").read_text())
            if r["model"] == name]
    lines = ["| layer | max pixel difference | share of values differing | same bytes |",
             "|---|---|---|---|"]
    lines += [f"| {r['layer']} | {r['max_diff']} | {100 * r['share_differing']:.5f}% | "
              f"{'yes' if r['same_bytes'] else 'no'} |" for r in rows]
    return "\n".join(lines)


# bench/codec_speed.py runs, newest first, with the date each was measured
SPEED_FILES = [(RESULTS / "speed" / "codec_speed-2026-12-06.json", "2026-12-06"),
               (RESULTS / "speed" / "codec_speed.json", "2026-11-29")]


def card_speed(name: str) -> str:
    """In-process encode/decode seconds per layer from the newest ``bench/codec_speed.py`` run
    that measured the model."""
    runs = [(path, date, json.loads(path.read_text())) for path, date in SPEED_FILES]
    found = [run for run in runs if any(r["model"] == name for r in run[2]["summary"])]
    if not found:
        return ("Not measured on its own: it has the architecture of one level of the models "
                "measured in [Backends and performance](../performance.md).")
    path, date, data = found[0]
    rows = [r for r in data["summary"] if r["model"] == name]
    m = data["machine"]
    head = (f"`{path.relative_to(ROOT)}` ({date}; {m['cpu']}, {m['cores']} cores, "
            f"torch {m['torch']}, {m['threads']} threads, {len(data['images'])} Kodak images, "
            "torch backend, in process; `python bench/codec_speed.py`):\n\n| layer | encode s "
            "(layers 1..k) | decode s (layer k) | entropy coding share of decode |\n"
            "|---|---|---|---|")
    return head + "\n" + "\n".join(
        f"| {r['layer']} | {r['encode']['seconds']:.3f} | {r['decode']['seconds']:.3f} | "
        f"{100 * r['decode']['entropy_share']:.1f}% |" for r in rows)


def card(name: str) -> str:
    """Every generated section of one model card."""
    return "\n\n".join([model_facts(name), "## Results", card_results(name),
                        "## Backend agreement", card_agreement(name), "## Speed",
                        card_speed(name)])


SINGLE_CARD = """# {name}

A single-layer model (one level of the CPU preset, lambda {lam:g}) trained from scratch. The
five single-layer models are the learned baseline the scalable models are measured against:
as a rate sweep (`rpn-single-cpu`), as simulcast (independent files whose sizes add up), and
as the starting point of each level of `rpn-spatial-cpu` (l500, l240, l120).

<!-- gen: card {name} -->

## Data, recipe and compute

BSDS500 (every 50th file held out, never Kodak). From scratch, one process of ten sharing one
H200 GPU on 2026-11-26: 7.2 GPU-minutes, about 5,950 steps of 8 crops of 256x256, Adam 1e-3
(divided by 10 at 85%), plain rate-distortion loss `lambda * bpp + 255^2 * MSE`
(`scripts/gpu_train.sh`; its log is `results/training/gpu-lease-2026-11-26/{log}.jsonl`).
The same recipe on a CPU: see the [training guide](../training.md#final-recipes).

## Limitations

Briefly trained: over its whole range it ties JPEG and needs about 90% more bits than
JPEG 2000 for the same PSNR ([Results](../results.md)). It is a baseline, not a product.

## History

- 2026-11-26: trained and shipped (unchanged since).
"""


def single_card(name: str) -> str:
    lam = lambdas(name)[0]
    return SINGLE_CARD.format(name=name, lam=lam, log=f"single-{lam:g}")


# --- results page -----------------------------------------------------------------------------

def _printed(func, *args) -> str:
    """What a table script's ``main`` prints."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        func(*args)
    return buffer.getvalue().strip()


def results_part(part: str) -> str:
    """One generated table of the results page (see ``docs/results.md`` for the list)."""
    if str(ROOT / "scripts") not in sys.path:  # mkdocs restores sys.path after loading hooks
        sys.path.insert(0, str(ROOT / "scripts"))
    import ablation_joint_table
    import ablation_table
    import category_table
    import readme_tables
    import refine_table
    import spatial_quality_table

    kodak, refine = RESULTS / "kodak", RESULTS / "refine"
    parts = {
        "kodak-sweeps": lambda: readme_tables.sweeps_table(kodak),
        "kodak-bd": lambda: readme_tables.bd_tables(kodak),
        "kodak-spatial": lambda: readme_tables.spatial_table(kodak),
        "kodak-resolutions": lambda: readme_tables.resolutions_table(kodak),
        "defaults-kodak": lambda: _defaults(kodak),
        "defaults-heldout": lambda: _defaults(RESULTS / "heldout"),
        "refine-quality": lambda: _printed(
            refine_table.main, str(kodak / "rpn-quality-cond.json"),
            str(kodak / "jpeg2000-layered.json"), str(refine / "rpn-quality-cond-refine30.json"),
            str(refine / "jpeg2000-layered-matched-rpn-quality-cond-refine30.json")),
        "refine-spatial": lambda: _printed(
            refine_table.main, str(kodak / "rpn-spatial-cond.json"),
            str(kodak / "jpeg2000-resolutions-matched-rpn-spatial-cond.json"),
            str(refine / "rpn-spatial-cond-refine30.json"),
            str(refine / "jpeg2000-resolutions-matched-rpn-spatial-cond-refine30.json")),
        "categories": category_table.tables,
        "spatial-quality": lambda: spatial_quality_table.tables(RESULTS),
        "ablation-heads": lambda: _printed(ablation_table.main, str(RESULTS / "ablation")),
        "ablation-joint": lambda: _printed(ablation_joint_table.main, str(RESULTS / "ablation"),
                                           "joint"),
        "ablation-joint-spatial": lambda: _printed(ablation_joint_table.main,
                                                   str(RESULTS / "ablation"), "joint-spatial"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parts[part]()


def _defaults(folder: Path) -> str:
    out = []
    for name in DEFAULTS:
        out += [f"`{name}`:", "", LAYER_HEAD, *layer_rows(name, folder), ""]
    return "\n".join(out)


# --- the format page ---------------------------------------------------------------------------

def scale_table() -> str:
    """The 64 scales of the Gaussian tables as exact float64 values (shortest round-trip
    decimals), four per row: what a decoder compares each predicted scale with."""
    from rpncodec.entropy.coding import SCALES

    head = "| i | scale | i | scale | i | scale | i | scale |\n|---|---|---|---|---|---|---|---|"
    rows = [" | ".join(f"{i} | `{float(SCALES[i])!r}`" for i in range(r, 64, 16))
            for r in range(16)]
    return head + "\n" + "\n".join(f"| {row} |" for row in rows)


# --- entry points -----------------------------------------------------------------------------

def generate(marker: str) -> str:
    """The text for ``<!-- gen: MARKER -->``."""
    kind, _, arg = marker.strip().partition(" ")
    if kind == "cli":
        return cli_reference()
    if kind == "scales":
        return scale_table()
    if kind == "status":
        return status_table()
    if kind == "card":
        return card(arg)
    if kind.startswith("results:"):
        return results_part(kind.split(":", 1)[1])
    raise ValueError(f"unknown documentation marker {marker!r}")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    print(generate(" ".join(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
