"""``rpncodec report``: one static HTML page over a folder of results JSONs.

The page holds the rate-distortion plots (:mod:`rpncodec.utils.plot`), the BD-rate tables of every
learned result against every anchor (:mod:`rpncodec.utils.bdrate`), and, for a few images, every
layer's reconstruction next to JPEG 2000 at the same bytes, as full-size crops (no scaling,
so the differences are the codecs' and not the browser's).

Which files are which: a results file whose ``name`` is one of :data:`rpncodec.utils.anchors.CODECS`
is an anchor, any other is a learned result. The crops need the models and the images: the
models are ``--model`` (repeatable) or, by default, every learned result whose name is a
shipped model; the images come from ``--images`` (no crops without it).

The crop anchor: for layer k with cumulative size B_k bytes, a single-layer JPEG 2000 file
(irreversible 9/7, ``mct=1``) of that layer's reference image (the original, or the pyramid
level in spatial mode) at a target of B_k bytes, whose real size is shown beside it.
"""

from __future__ import annotations

import html
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from .. import bitstream
from ..errors import RpncodecError
from ..imageio import atomic_write_bytes
from ..metrics import psnr
from ..pyramid import layer_references
from ..zoo import REGISTRY, LoadedModel, load_model
from .anchors import CODECS, j2k_decode, j2k_encode
from .bdrate import METHOD, bdrate, codec_specs, comparable, load_results, results_mode
from .evaluate import evaluate_image, readable_images

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; } h3 { font-size: 15px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td.l { text-align: left; }
.neg { color: #176317; } .pos { color: #a31515; }  /* wins green, losses red */
code, pre { background: #f6f6f6; padding: 1px 4px; }
pre { padding: 8px; overflow-x: auto; }
.crops { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
figure { margin: 0; } figcaption { font-size: 12px; max-width: 260px; }
img.crop { image-rendering: pixelated; display: block; }
.pair { border: 1px solid #ddd; padding: 6px; }
"""


def find_results(folder: Path) -> list[Path]:
    """Every results JSON (a ``name`` and a ``results.bpp`` list) in ``folder``."""
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            report = json.loads(path.read_text())
            if isinstance(report.get("results", {}).get("bpp"), list) and "name" in report:
                found.append(path)
        except (OSError, ValueError, AttributeError):
            print(f"rpncodec: warning: skipped {path.name} (not a results JSON)", file=sys.stderr)
    return found


def _mode(path: Path) -> str:
    """The mode of the results JSON at ``path`` (see :func:`.bdrate.results_mode`)."""
    return results_mode(json.loads(path.read_text()))


def _bd_cell(value: float | None, spec: str, lower_is_better: bool = True) -> str:
    """A table cell, green where the learned codec wins and red where it loses."""
    if value is None or not np.isfinite(value):
        return "<td>-</td>"
    cls = "neg" if (value < 0) == lower_is_better else "pos"
    return f'<td class="{cls}">{format(value, spec)}</td>'


def tests_and_anchors(specs: dict[str, str]) -> tuple[list[str], list[str]]:
    """Names (keys of :func:`codec_specs`) of the learned results that get a BD table, and of
    the anchors they are compared with: every classical codec and simulcast, and every learned
    single-layer sweep."""
    tests = [name for name in specs if name not in CODECS]
    anchors = [name for name in specs
               if name in CODECS or load_results(specs[name]).mode == "single"]
    return tests, anchors


def bd_tables(tests: list[str], anchors: list[str]) -> str:
    """HTML: per learned result, its BD-rates (PSNR-RGB and MS-SSIM) against every anchor of
    a comparable mode (``tests``, ``anchors``: :func:`load_results` specs)."""
    parts = []
    for test_spec in tests:
        rows_html = []
        test, test_ms = load_results(test_spec), load_results(test_spec, "ms-ssim")
        for anchor_spec in anchors:
            anchor = load_results(anchor_spec)
            if anchor_spec == test_spec or not comparable(test, anchor):
                continue
            ms_rows = {r["layer"]: r
                       for r in bdrate(test_ms, load_results(anchor_spec, "ms-ssim"))}
            for psnr_row in bdrate(test, anchor):
                ms_row = ms_rows.get(psnr_row["layer"], {"bd_rate": None})
                rows_html.append(
                    f'<tr><td class="l">{html.escape(anchor.name)}</td>'
                    f'<td class="l">{psnr_row["layer"]}</td>'
                    f"{_bd_cell(psnr_row['bd_rate'], '+.1f')}"
                    f"{_bd_cell(psnr_row['bd_quality'], '+.2f', lower_is_better=False)}"
                    f"{_bd_cell(ms_row['bd_rate'], '+.1f')}"
                    f'<td class="l">{html.escape(psnr_row["how"])}</td></tr>')
        parts.append(
            f"<h3>{html.escape(test.name)} against each anchor</h3><table><tr><th>anchor</th>"
            "<th>layer</th>"
            "<th>BD-rate % (PSNR-RGB)</th><th>BD-PSNR dB</th><th>BD-rate % (MS-SSIM)</th>"
            "<th>how</th></tr>" + "".join(rows_html) + "</table>")
    return "\n".join(parts)


def detail_window(image: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` square (on a 16-pixel grid) with the most gradient
    energy: where coding differences show."""
    gray = image.astype(np.float64).mean(-1)
    energy = np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1]
    h, w = energy.shape
    size = min(size, h, w)
    integral = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    best, corner = -1.0, (0, 0)
    for y in range(0, h - size + 1, 16):
        for x in range(0, w - size + 1, 16):
            s = (integral[y + size, x + size] - integral[y, x + size]
                 - integral[y + size, x] + integral[y, x])
            if s > best:
                best, corner = s, (y, x)
    return corner


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def j2k_at_bytes(reference: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Single-layer JPEG 2000 of ``reference`` aimed at ``size`` bytes: (decode, real bytes)."""
    pixels = reference.shape[0] * reference.shape[1]
    data = j2k_encode(reference, [8 * size / pixels])
    return j2k_decode(data), len(data)


def crop_section(name: str, image: np.ndarray, loaded: LoadedModel, out: Path,
                 crop: int) -> str:
    """HTML figures for one image and model: per layer, the model and JPEG 2000 at its bytes."""
    outputs: dict = {}
    rows = evaluate_image(image, loaded, outputs)
    references = layer_references(image, bitstream.parse(outputs["data"]).header.shifts)
    y, x = detail_window(image, crop)
    stem = f"{loaded.name}-{Path(name).stem}"
    figures = []
    original = image[y:y + crop, x:x + crop]
    atomic_write_bytes(out / "crops" / f"{stem}-original.png", _png(original))
    figures.append(f'<figure class="pair"><img class="crop" src="crops/{stem}-original.png">'
                   f"<figcaption>original {html.escape(name)}, crop at ({x}, {y})"
                   "</figcaption></figure>")
    for k, (row, reference, decoded) in enumerate(
            zip(rows, references, outputs["layers"], strict=True), 1):
        scale = image.shape[0] // reference.shape[0]
        ys, xs, cs = y // scale, x // scale, max(crop // scale, 1)
        anchor, anchor_bytes = j2k_at_bytes(reference, row["bytes"])
        cells = []
        for label, recon, size in (("rpn", decoded, row["bytes"]),
                                   ("j2k", anchor, anchor_bytes)):
            file = f"{stem}-L{k}-{label}.png"
            atomic_write_bytes(out / "crops" / file, _png(recon[ys:ys + cs, xs:xs + cs]))
            pixels = reference.shape[0] * reference.shape[1]
            who = loaded.name if label == "rpn" else "JPEG 2000, same bytes"
            cells.append(f'<figure><img class="crop" src="crops/{file}"><figcaption>'
                         f"{html.escape(who)}: {size} B, {8 * size / pixels:.3f} bpp, "
                         f"{psnr(reference, recon):.2f} dB (whole image)</figcaption></figure>")
        size_note = f" ({reference.shape[1]}x{reference.shape[0]})" if scale > 1 else ""
        figures.append(f'<div class="pair"><b>layer {k}</b>{size_note}'
                       f'<div class="crops">{"".join(cells)}</div></div>')
    return (f"<h3>{html.escape(name)}, {html.escape(loaded.name)}</h3>"
            f'<div class="crops">{"".join(figures)}</div>')


def build_report(folder: Path, out: Path, images: Path | None = None,
                 models: list[str] | None = None, crops: int = 2, crop: int = 256,
                 crop_images: list[str] | None = None) -> Path:
    """Write ``out/index.html`` (plus its plots and crops); return its path."""
    from .plot import plot

    paths = find_results(folder)
    if not paths:
        raise RpncodecError(f"no results JSONs in {folder}")
    specs = codec_specs(paths)
    tests, anchors = ([specs[n] for n in names] for names in tests_and_anchors(specs))
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    for mode_group, title in ((("quality", "single"), "full resolution (quality layers and "
                                "single-layer sweeps)"),
                              (("spatial", "spatial-quality"),
                               "spatial layers (each at its own resolution)")):
        group = [p for p in paths if _mode(p) in mode_group]
        if mode_group[0] == "spatial" and not group:
            continue
        png = f"rd-{mode_group[0]}.png"
        plot([str(p) for p in group], out / png)
        sections.append(f"<h2>Rate-distortion: {title}</h2><img src=\"{png}\" width=\"1100\">"
                        f"<p>Made by <code>rpncodec plot {' '.join(p.name for p in group)} "
                        f"-o {png}</code> (in {html.escape(str(folder))}).</p>")
    if tests and anchors:
        sections.append(
            "<h2>BD-rates</h2><p>Bjontegaard deltas by <code>rpncodec bdrate TEST.json "
            f"ANCHOR.json</code> ({METHOD} interpolation on log-rate; MS-SSIM in dB, "
            "-10 log10(1 - MS-SSIM)). Negative = the learned codec needs fewer bits; "
            "&ldquo;same rate&rdquo; rows (an anchor matched to the codec's bytes) have only a "
            "PSNR difference; &ldquo;point on curve&rdquo; rows compare one layer's point with "
            "the anchor's interpolated curve.</p>" + bd_tables(tests, anchors))
    if images is not None:
        wanted = models or [name for name in specs if name in REGISTRY]
        loaded_models = [load_model(m) for m in wanted]
        if loaded_models:
            (out / "crops").mkdir(exist_ok=True)
            chosen = []
            for name, image in readable_images(images):
                if (crop_images and name in crop_images) or (not crop_images
                                                             and len(chosen) < crops):
                    chosen.append((name, image))
            parts = [crop_section(name, image, loaded, out, crop)
                     for loaded in loaded_models for name, image in chosen]
            sections.append(
                f"<h2>Reconstructions ({crop}x{crop} crops at full size)</h2><p>Each layer of "
                "the learned codec next to a single-layer JPEG 2000 file (irreversible 9/7, "
                "mct=1) of the same image at the same number of bytes; PSNR is over the whole "
                "image. The crop is the most detailed window.</p>" + "".join(parts))
    made_by = f"rpncodec report {folder} --out {out}" + (f" --images {images}" if images else "")
    listing = "".join(f"<li><code>{html.escape(p.name)}</code>: "
                      f"{html.escape(json.loads(p.read_text())['description'])}</li>"
                      for p in paths)
    page = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>rpncodec report"
            f"</title><style>{CSS}</style></head><body><h1>rpncodec: rate-distortion report for "
            f"{html.escape(folder.name)}</h1><p>Made by <code>{html.escape(made_by)}</code>. "
            "bpp of a layer = "
            "8 x the bytes needed to decode it (headers included) / that layer's pixels.</p>"
            + "".join(sections) + f"<h2>Results files</h2><ul>{listing}</ul></body></html>")
    index = out / "index.html"
    atomic_write_bytes(index, page.encode())
    return index


def find_chromium() -> str | None:
    """The headless browser on this machine, if any."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 3000) -> None:
    """Render ``page`` in headless Chromium to ``png`` (an error when no Chromium is found)."""
    browser = find_chromium()
    if browser is None:
        raise RpncodecError("no chromium or chromium-browser found for the screenshot")
    png = png.resolve()
    temp = png.with_name(f".{png.name}.tmp.png")  # renamed into place when complete
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--screenshot={temp}", f"--window-size={width},{height}",
           page.resolve().as_uri()]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        if not temp.exists():
            raise RpncodecError(f"chromium wrote no screenshot for {page}")
        temp.replace(png)
    except (subprocess.SubprocessError, OSError) as exc:
        raise RpncodecError(f"chromium could not render {page} ({exc})") from None
    finally:
        temp.unlink(missing_ok=True)
