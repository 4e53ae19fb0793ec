"""Would a cheap decoder-side "exact colour" tool close the gap to JPEG 2000 on flat colour,
text and screen content? Measured on the shipped quality models' decoded layers, without
retraining and without changing the format: the side information is counted in bytes as a
format extension would store it, and JPEG 2000 is coded again at the larger byte counts.

    .venv/bin/python scripts/exact_colour_probe.py --split test \
        --json results/exact_colour_probe.json
    .venv/bin/python scripts/exact_colour_probe.py --split train --per-category 4 --sweep

The tool: the encoder lists the image's dominant exact colours (a palette of at most
``--max-colours`` RGB triples, each covering at least ``--min-share`` of the pixels) and, per
layer, a snap radius r (one byte, 0 = off) chosen to maximise that layer's PSNR (the encoder
decodes each layer anyway). The decoder replaces each decoded pixel whose nearest palette
colour lies within r by that colour. Variants (all per layer):

- ``A-inf`` / ``A-l2``: snap every pixel within r (max-abs / Euclidean distance);
- ``B``: ``A-inf`` with one bit per ``--block`` x ``--block`` block saying where to snap
  (the encoder keeps the blocks where snapping lowers the error), XOR'd with the previous
  layer's map and zlib'd;
- ``C``: ``A-inf`` gated by the neighbourhood: a pixel snaps only if it and its 8 neighbours
  all decode within r of the same palette colour (flat interiors; edges keep the decode);
- ``C2``: two radii: within r1 anywhere, or within r2 in a flat neighbourhood (``C``'s gate);
- ``BC``: ``C`` with ``B``'s block map;
- ``D``: two passes: ``A-inf`` within r1, then each pixel left over snaps to the nearest
  (Euclidean) of the colours snapped within ``WINDOW`` pixels of it if that lies within r2:
  a blurred or ringing edge between two flat colours takes one of them, and a colour the
  neighbourhood lacks is never chosen.

Side information per file: 1 byte when the encoder turns the tool off (no layer gains
``--min-gain`` dB), else a 2-byte header, the palette (3 bytes a colour, zlib'd when that is
smaller) and per layer 1 byte r (``C2``, ``D``: 2), plus ``B``/``BC``'s map (1 mode byte, then the
map when it is neither all-off nor all-on). Layer k costs the palette and the first k layers'
side bytes.

For each image, model and variant, JPEG 2000 (one layered OpenJPEG codestream,
:mod:`rpncodec.utils.anchors`' settings) is coded at the model's layer bytes plus that
variant's side bytes, each layer's bytes those of a real file, as
``scripts/category_results.sh`` does; gaps are model minus JPEG 2000 in dB of PSNR-RGB.
Never tune on the test part: ``--split train`` (with ``--sweep``) is for choosing
``--min-share``, ``--block`` and the metric.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".data" / "nonphoto"
KODAK = ROOT.parent / "shared" / "data" / "kodak"
MODELS = ("rpn-quality-cond", "rpn-quality-screen")
VARIANTS = ("A-inf", "A-l2", "B", "C", "C2", "BC", "D")
DEFAULT_VARIANTS = ("A-inf", "A-l2", "B", "C", "D")
R1_GRID = (8, 16, 32)  # D's first-pass radii (with A's best)
WINDOW = 3  # D: second-pass candidates come from snapped pixels up to 3 pixels away
NEVER = 256  # distance key of a pixel no one-byte radius reaches
R2_GRID = (0, 2, 4, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128)  # C2's gated radii


# ---------------------------------------------------------------------------------------------
# the tool


def pack(pixels: np.ndarray) -> np.ndarray:
    """RGB triples as one int32 each."""
    p = pixels.reshape(-1, 3).astype(np.int32)
    return (p[:, 0] << 16) | (p[:, 1] << 8) | p[:, 2]


def find_palette(image: np.ndarray, min_share: float, max_colours: int) -> np.ndarray:
    """The exact colours covering at least ``min_share`` of the pixels each, most frequent
    first, at most ``max_colours``: a (K, 3) uint8 array (K may be 0)."""
    values, counts = np.unique(pack(image), return_counts=True)
    keep = counts >= max(1.0, min_share * counts.sum())
    order = np.argsort(-counts[keep], kind="stable")[:max_colours]
    v = values[keep][order]
    return np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], 1).astype(np.uint8)


def palette_bytes(palette: np.ndarray) -> int:
    """Stored size of the palette: raw triples or zlib's, whichever is smaller (a header bit
    says which)."""
    raw = np.ascontiguousarray(palette[np.lexsort(palette.T[::-1])]).tobytes()
    return min(len(raw), len(zlib.compress(raw, 9)))


def nearest(decoded: np.ndarray, palette: np.ndarray, metric: str) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Per pixel: the index of the nearest palette colour and the distance key (the smallest
    one-byte radius that reaches it, ``NEVER`` when none does), both (H, W)."""
    values, inverse = np.unique(pack(decoded), return_inverse=True)
    colours = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], 1)
    dist, idx = cKDTree(palette.astype(np.float64)).query(
        colours.astype(np.float64), p=np.inf if metric == "inf" else 2)
    key = np.minimum(np.ceil(dist - 1e-9), NEVER).astype(np.int64)
    shape = decoded.shape[:2]
    return idx[inverse].reshape(shape), key[inverse].reshape(shape)


def gated_key(idx: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The smallest radius at which a pixel and its 8 neighbours all lie within reach of the
    same palette colour (``NEVER`` when their nearest colours differ)."""
    pi, pk = np.pad(idx, 1, mode="edge"), np.pad(key, 1, mode="edge")
    h, w = idx.shape
    gate = key.copy()
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            ni, nk = pi[dy:dy + h, dx:dx + w], pk[dy:dy + h, dx:dx + w]
            gate = np.where(ni == idx, np.maximum(gate, nk), NEVER)
    return gate


def block_ids(shape: tuple[int, int], block: int) -> tuple[np.ndarray, int]:
    """Per pixel its block's index (row-major) and the block count."""
    h, w = shape
    nbx = -(-w // block)
    ys, xs = np.arange(h) // block, np.arange(w) // block
    return ys[:, None] * nbx + xs[None, :], -(-h // block) * nbx


def best_radius(delta: np.ndarray, key: np.ndarray) -> tuple[int, float]:
    """The radius 0-255 minimising the squared error (and that error change): a pixel with
    key <= r changes its error by ``delta``."""
    change = np.cumsum(np.bincount(key.ravel(), weights=delta.ravel(), minlength=NEVER + 1))
    r = int(np.argmin(change[:NEVER]))
    return (r, float(change[r])) if change[r] < 0 else (0, 0.0)


def best_radius_blocks(delta: np.ndarray, key: np.ndarray, blocks: np.ndarray,
                       nblocks: int) -> tuple[int, np.ndarray]:
    """The radius and block map (blocks where snapping at that radius lowers the error)
    minimising the squared error."""
    table = np.bincount((blocks * (NEVER + 1) + key).ravel(), weights=delta.ravel(),
                        minlength=nblocks * (NEVER + 1)).reshape(nblocks, NEVER + 1)
    change = np.cumsum(table, 1)[:, :NEVER]
    total = np.minimum(change, 0).sum(0)
    r = int(np.argmin(total))
    if total[r] >= 0:
        return 0, np.zeros(nblocks, bool)
    return r, change[:, r] < 0


def map_bytes(enabled: np.ndarray, previous: np.ndarray) -> int:
    """A layer's block map: 1 mode byte (off / all on / map), then for a map its bits XOR'd
    with the previous layer's, packed, raw or zlib'd whichever is smaller."""
    if not enabled.any() or enabled.all():
        return 1
    bits = np.packbits(enabled ^ previous).tobytes()
    return 1 + min(len(bits), len(zlib.compress(bits, 9)))


def second_pass(decoded: np.ndarray, palette: np.ndarray, idx: np.ndarray,
                first: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """D's second pass over the pixels the first pass left: (their flat positions, the
    palette index of the nearest colour snapped within ``WINDOW`` pixels, its distance key;
    ``NEVER`` where no neighbour snapped)."""
    h, w = idx.shape
    # only the pixels with a snapped pixel in their window: a box sum of the first pass
    box = np.pad(np.pad(first, WINDOW).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    n = 2 * WINDOW + 1
    near = box[n:, n:] - box[:-n, n:] - box[n:, :-n] + box[:-n, :-n]
    ys, xs = np.nonzero(~first & (near > 0))
    colour = decoded[ys, xs].astype(np.float64)
    best = np.full(len(ys), np.inf)
    best_idx = np.zeros(len(ys), np.int64)
    for dy in range(-WINDOW, WINDOW + 1):
        for dx in range(-WINDOW, WINDOW + 1):
            if not dy and not dx:
                continue
            ny, nx = np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)
            ok = first[ny, nx]
            cand = idx[ny, nx]
            dist = np.sqrt(((colour - palette[cand]) ** 2).sum(1))
            better = ok & (dist < best)
            best[better], best_idx[better] = dist[better], cand[better]
    key = np.minimum(np.ceil(np.where(np.isinf(best), NEVER, best) - 1e-9), NEVER)
    return ys * w + xs, best_idx, key.astype(np.int64)


def decode_d(decoded: np.ndarray, palette: np.ndarray, r1: int, r2: int) -> np.ndarray:
    """D's decoder alone (``A-inf`` when r2 is 0): what a decoder would run on a layer given
    the palette and the layer's two radii."""
    idx, key = nearest(decoded, palette, "inf")
    first = key <= r1 if r1 else np.zeros_like(key, bool)
    out = np.where(first[..., None], palette[idx], decoded).reshape(-1, 3)
    if r2:
        pos, cand, key2 = second_pass(decoded, palette, idx, first)
        out[pos[key2 <= r2]] = palette[cand[key2 <= r2]]
    return out.reshape(decoded.shape)


@dataclass
class LayerResult:
    """One variant's decision and outcome for one layer."""

    radius: list[int]
    side: int  # bytes this layer adds (radius bytes, map)
    psnr: float
    exact: float  # share of pixels equal to the original
    blocks_on: float  # share of blocks enabled (1 without a map)


def psnr_of(original: np.ndarray, out: np.ndarray) -> float:
    mse = float(np.mean((original.astype(np.float64) - out) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def apply_variant(variant: str, original: np.ndarray, decoded: list[np.ndarray],
                  palette: np.ndarray, block: int, memo: dict | None = None
                  ) -> list[LayerResult]:
    """Run one variant's encoder decisions and decoder on every layer (``memo`` keeps the
    nearest-colour search of a layer and metric between variants)."""
    metric = "l2" if variant == "A-l2" else "inf"
    orig = original.astype(np.float64)
    blocks, nblocks = block_ids(original.shape[:2], block)
    previous = np.zeros(nblocks, bool)
    out_rows = []
    memo = {} if memo is None else memo
    for layer, dec in enumerate(decoded):
        if (layer, metric) not in memo:
            idx, key = nearest(dec, palette, metric)
            snapped = palette[idx].astype(np.float64)
            delta = (((orig - snapped) ** 2).sum(2) - ((orig - dec) ** 2).sum(2))
            memo[layer, metric] = idx, key, snapped, delta
        idx, key, snapped, delta = memo[layer, metric]
        gate = gated_key(idx, key) if variant in ("C", "C2", "BC") else key
        enabled, side = None, 1
        if variant in ("A-inf", "A-l2", "C"):
            radius = [best_radius(delta, gate)[0]]
            mask = gate <= radius[0]
        elif variant == "C2":
            best = (0.0, 0, 0)
            for r2 in R2_GRID:
                rest = gate > r2
                base = float(delta[~rest].sum()) if r2 else 0.0
                r1, change = best_radius(np.where(rest, delta, 0.0), key)
                if base + change < best[0]:
                    best = (base + change, r1, r2)
            radius, side = [best[1], best[2]], 2
            mask = (key <= best[1]) | (gate <= best[2]) if best[2] else key <= best[1]
            if not best[1] and not best[2]:
                mask = np.zeros_like(key, bool)
        elif variant == "D":
            flat_orig, flat_dec = orig.reshape(-1, 3), dec.reshape(-1, 3).astype(np.float64)
            empty = np.zeros(0, np.int64)
            best_d: tuple = (0.0, 0, 0, empty, empty)
            for r1 in sorted({best_radius(delta, key)[0], *R1_GRID}):
                first = key <= r1 if r1 else np.zeros_like(key, bool)
                base = float(delta[first].sum())
                pos, cand, key2 = second_pass(dec, palette, idx, first)
                d2 = (((flat_orig[pos] - palette[cand]) ** 2).sum(1)
                      - ((flat_orig[pos] - flat_dec[pos]) ** 2).sum(1))
                r2, change = best_radius(d2, key2)
                if base + change < best_d[0]:
                    best_d = (base + change, r1, r2, pos[key2 <= r2] if r2 else pos[:0],
                              cand[key2 <= r2] if r2 else cand[:0])
            radius, side = [best_d[1], best_d[2]], 2
            mask = key <= best_d[1] if best_d[1] else np.zeros_like(key, bool)
            if best_d[2]:
                flat_idx = idx.ravel().copy()
                flat_idx[best_d[3]] = best_d[4]
                idx = flat_idx.reshape(idx.shape)
                snapped = palette[idx].astype(np.float64)
                extra = np.zeros(key.size, bool)
                extra[best_d[3]] = True
                mask = mask | extra.reshape(key.shape)
        else:  # B, BC
            r, enabled = best_radius_blocks(delta, gate, blocks, nblocks)
            radius = [r]
            side += map_bytes(enabled, previous) if r else 0
            mask = (gate <= r) & enabled[blocks] if r else np.zeros_like(key, bool)
            previous = enabled if r else previous
        out = np.where(mask[..., None], snapped, dec)
        out_rows.append(LayerResult(radius, side, psnr_of(original, out),
                                    float(np.mean((out == orig).all(2))),
                                    float(enabled.mean()) if enabled is not None else 1.0))
    return out_rows


# ---------------------------------------------------------------------------------------------
# measuring


def j2k_layered(image: np.ndarray, sizes: list[int]) -> list[tuple[int, float]]:
    """(real bytes, PSNR) per layer of one layered JPEG 2000 codestream at cumulative
    ``sizes`` bytes: as :func:`rpncodec.utils.anchors.jpeg2000_layered` without MS-SSIM."""
    from rpncodec.utils.anchors import j2k_decode, j2k_encode

    pixels = image.shape[0] * image.shape[1]
    bpps = [8 * s / pixels for s in sizes]
    full = j2k_encode(image, bpps)
    rows = []
    for k in range(1, len(bpps) + 1):
        out = j2k_decode(full, k)
        prefix = full if k == len(bpps) else j2k_encode(image, bpps[:k])
        if not np.array_equal(j2k_decode(prefix), out):
            out = j2k_decode(prefix)
        rows.append((len(prefix), psnr_of(image, out.astype(np.float64))))
    return rows


def lossless_bytes(image: np.ndarray) -> int:
    """Bytes of the image as a lossless PNG (Pillow, optimize; palette mode when it has at
    most 256 colours): the size an exact coding of it needs at most."""
    import io

    candidates = [Image.fromarray(image)]
    values, inverse = np.unique(pack(image), return_inverse=True)
    if len(values) <= 256:
        indexed = Image.fromarray(inverse.reshape(image.shape[:2]).astype(np.uint8), "P")
        indexed.putpalette(np.stack([values >> 16, (values >> 8) & 255, values & 255], 1)
                           .astype(np.uint8).tobytes())
        candidates.append(indexed)
    sizes = []
    for c in candidates:
        buf = io.BytesIO()
        c.save(buf, format="PNG", optimize=True)
        sizes.append(len(buf.getvalue()))
    return min(sizes)


def images(split: str, categories: list[str] | None, per_category: int | None,
           kodak: int) -> list[tuple[str, Path]]:
    """(category, path) of the images to measure: every category of the split (or those
    named), at most ``per_category`` each, and for the test split the first ``kodak`` Kodak
    images as "photos"."""
    root = DATA / split
    if not root.is_dir():
        raise SystemExit(f"error: no {root}: run scripts/nonphoto/build.py --out {DATA}")
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if categories and folder.name not in categories:
            continue
        files = sorted(folder.glob("*.png"))
        found += [(folder.name, f) for f in files[:per_category]]
    if kodak:
        if split != "test":
            raise SystemExit("error: Kodak is evaluation only: --kodak needs --split test")
        found += [("photos", f) for f in sorted(KODAK.glob("kodim*.png"))[:kodak]]
    return found


def decode_layers(model: object, image: np.ndarray, cache: Path | None, tag: str
                  ) -> tuple[list[int], list[np.ndarray]]:
    """Cumulative file bytes and decoded pixels of every layer of the model's file."""
    import rpncodec
    from rpncodec.api import decode_rpn

    path = cache / f"{tag}.npz" if cache else None
    if path and path.exists():
        with np.load(path) as z:
            return [int(v) for v in z["ends"]], list(z["layers"])
    data = rpncodec.encode(image, model=model)
    ends = [layer.end for layer in rpncodec.info(data).layers]
    layers = [decode_rpn(data, layers=k, model=model).image for k in range(1, len(ends) + 1)]
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, ends=np.array(ends), layers=np.stack(layers))
        os.replace(tmp, path)
    return ends, layers


def measure(args: argparse.Namespace) -> dict:
    from rpncodec.backend import open_model

    todo = images(args.split, args.categories, args.per_category, args.kodak)
    settings = ([(s, b) for s in args.sweep_shares for b in args.sweep_blocks] if args.sweep
                else [(args.min_share, args.block)])
    out: dict = {"split": args.split, "variants": list(args.variants), "settings": [],
                 "per_image": {}}
    for model_name in args.models:
        model = open_model(model_name, threads=1)
        for cat, path in todo:
            image = np.asarray(Image.open(path).convert("RGB"))
            tag = f"{model_name}/{args.split}/{cat}/{path.stem}"
            t0 = time.perf_counter()
            ends, decoded = decode_layers(model, image, args.cache, tag)
            base = [psnr_of(image, d.astype(np.float64)) for d in decoded]
            entry = {"category": cat, "model": model_name, "size": list(image.shape[:2]),
                     "bytes": ends, "psnr": base, "settings": {},
                     "lossless_png": None if args.sweep else lossless_bytes(image)}
            j2k_memo: dict[tuple[int, ...], list[tuple[int, float]]] = {}
            if not args.no_j2k:
                j2k_memo[tuple(ends)] = j2k_layered(image, ends)
                entry["j2k"] = j2k_memo[tuple(ends)]
            for share, block in settings:
                palette = find_palette(image, share, args.max_colours)
                skey = f"share={share:g},block={block}"
                res = {"colours": len(palette), "variants": {}}
                memo: dict = {}
                for variant in args.variants:
                    t1 = time.perf_counter()
                    rows = (apply_variant(variant, image, decoded, palette, block, memo)
                            if len(palette) else [])
                    secs = time.perf_counter() - t1
                    on = bool(rows) and bool(max(r.psnr - b for r, b in zip(rows, base,
                                                                       strict=True)) \
                        >= args.min_gain)
                    if on:
                        fixed = 2 + palette_bytes(palette)
                        side = list(np.cumsum([r.side for r in rows]) + fixed)
                        psnr = [r.psnr for r in rows]
                        detail = {"radius": [r.radius for r in rows],
                                  "exact": [r.exact for r in rows],
                                  "blocks_on": [r.blocks_on for r in rows]}
                    else:
                        side, psnr, detail = [1] * len(ends), base, {}
                    v = {"on": on, "side": [int(s) for s in side], "psnr": psnr,
                         "seconds": secs, **detail}
                    if not args.no_j2k:
                        sizes = tuple(e + s for e, s in zip(ends, side, strict=True))
                        if sizes not in j2k_memo:
                            j2k_memo[sizes] = j2k_layered(image, list(sizes))
                        v["j2k"] = j2k_memo[sizes]
                    res["variants"][variant] = v
                d = res["variants"].get("D")
                if args.time and d and d["on"]:
                    t1 = time.perf_counter()
                    out_d = decode_d(decoded[-1], palette, *d["radius"][-1])
                    d["decode_ms_per_mp"] = ((time.perf_counter() - t1) * 1e9
                                             / (image.shape[0] * image.shape[1]))
                    if abs(psnr_of(image, out_d.astype(np.float64)) - d["psnr"][-1]) > 1e-9:
                        raise SystemExit(f"error: D's decoder disagrees with its search on "
                                         f"{tag}")
                entry["settings"][skey] = res
                if skey not in out["settings"]:
                    out["settings"].append(skey)
            out["per_image"][tag] = entry
            print(f"{tag}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return out


# ---------------------------------------------------------------------------------------------
# tables


def table(result: dict, setting: str) -> str:
    """Per model, category and layer: bytes, PSNR and gap to JPEG 2000 before, and per
    variant the PSNR gain, side bytes and gap after."""
    variants = result["variants"]
    have_j2k = all("j2k" in e for e in result["per_image"].values())
    head = "| model | category | n | layer | bytes | PSNR | vs J2K |"
    rule = "|---|---|---|---|---|---|---|"
    for v in variants:
        head += f" {v}: dB | {v}: side B |" + (f" {v}: vs J2K |" if have_j2k else "")
        rule += "---|---|" + ("---|" if have_j2k else "")
    lines = [f"Setting: {setting}; mean over images; side B = bytes the tool adds up to that "
             "layer; dB = PSNR change; vs J2K = model minus layered JPEG 2000 at the same "
             "total bytes.", "", head, rule]
    groups: dict[tuple[str, str], list[dict]] = {}
    for e in result["per_image"].values():
        groups.setdefault((e["model"], e["category"]), []).append(e)
    for (model, cat), entries in groups.items():
        for k in range(len(entries[0]["bytes"])):
            row = [model, cat, str(len(entries)), str(k + 1),
                   f"{np.mean([e['bytes'][k] for e in entries]):.0f}",
                   f"{np.mean([e['psnr'][k] for e in entries]):.2f}"]
            if have_j2k:
                row.append(f"{np.mean([e['psnr'][k] - e['j2k'][k][1] for e in entries]):+.2f}")
            else:
                row.append("-")
            for v in variants:
                vs = [e["settings"][setting]["variants"][v] for e in entries]
                gain = [x["psnr"][k] - e["psnr"][k] for x, e in zip(vs, entries, strict=True)]
                row.append(f"{np.mean(gain):+.2f}")
                row.append(f"{np.mean([x['side'][k] for x in vs]):.0f}")
                if have_j2k:
                    row.append(f"{np.mean([x['psnr'][k] - x['j2k'][k][1] for x in vs]):+.2f}")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


MEAN_OVER = ("text", "ui", "charts", "lineart")  # the categories the docs' mean gap uses


def mean_gap(entries: list[dict], variant: str | None, setting: str) -> str:
    """Per layer, the mean over MEAN_OVER's categories of each category's mean gap to JPEG
    2000 (as docs/categories.md averages), before (``variant`` None) or after a variant."""
    def gap(e: dict, k: int) -> float:
        x = e if variant is None else e["settings"][setting]["variants"][variant]
        return x["psnr"][k] - x["j2k"][k][1]

    cats = [c for c in MEAN_OVER if any(e["category"] == c for e in entries)]
    layers = range(len(entries[0]["bytes"]))
    return " / ".join(
        f"{np.mean([np.mean([gap(e, k) for e in entries if e['category'] == c]) for c in cats]):+.2f}"  # noqa: E501
        for k in layers)


def summary(result: dict, setting: str) -> str:
    """Per model: the mean gap to JPEG 2000 over MEAN_OVER per layer, before and after each
    variant; and per category how many images the encoder turned each variant on for."""
    variants = result["variants"]
    entries = list(result["per_image"].values())
    models = list(dict.fromkeys(e["model"] for e in entries))
    lines = ["| model | mean gap over text, UI, charts, line art: before | "
             + " | ".join(variants) + " |", "|---|---|" + "---|" * len(variants)]
    for model in models:
        es = [e for e in entries if e["model"] == model and e["category"] in MEAN_OVER]
        if es and "j2k" in es[0]:
            lines.append(f"| {model} | " + " | ".join(
                mean_gap(es, v, setting) for v in (None, *variants)) + " |")
    lines += ["", "| model | category | images | " + " | ".join(f"{v} on" for v in variants)
              + " | colours (mean) |", "|---|---|---|" + "---|" * (len(variants) + 1)]
    groups: dict[tuple[str, str], list[dict]] = {}
    for e in entries:
        groups.setdefault((e["model"], e["category"]), []).append(e)
    for (model, cat), es in groups.items():
        on = [str(sum(e["settings"][setting]["variants"][v]["on"] for e in es))
              for v in variants]
        colours = np.mean([e["settings"][setting]["colours"] for e in es])
        lines.append(f"| {model} | {cat} | {len(es)} | " + " | ".join(on)
                     + f" | {colours:.0f} |")
    return "\n".join(lines)


def lossless_table(result: dict) -> str:
    """Per model and category: the top layer's bytes against a lossless PNG's."""
    lines = ["| model | category | top layer bytes | lossless PNG bytes | images where PNG "
             "is smaller |", "|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[dict]] = {}
    for e in result["per_image"].values():
        groups.setdefault((e["model"], e["category"]), []).append(e)
    for (model, cat), entries in groups.items():
        top = [e["bytes"][-1] for e in entries]
        png = [e["lossless_png"] for e in entries]
        lines.append(f"| {model} | {cat} | {np.mean(top):.0f} | {np.mean(png):.0f} | "
                     f"{sum(p <= t for p, t in zip(png, top, strict=True))} of "
                     f"{len(entries)} |")
    return "\n".join(lines)


def sweep_table(result: dict) -> str:
    """Per setting and variant: mean PSNR gain per layer and side bytes (top layer), over
    every image and model, and per category the top layer's gain."""
    cats = sorted({e["category"] for e in result["per_image"].values()})
    lines = ["| setting | variant | gain per layer (dB) | side B (top) | off | "
             + " | ".join(f"{c} top" for c in cats) + " |",
             "|---|---|---|---|---|" + "---|" * len(cats)]
    entries = list(result["per_image"].values())
    for s in result["settings"]:
        for v in result["variants"]:
            vs = [(e, e["settings"][s]["variants"][v]) for e in entries]
            layers = len(entries[0]["bytes"])
            gain = [np.mean([x["psnr"][k] - e["psnr"][k] for e, x in vs]) for k in range(layers)]
            per_cat = [np.mean([x["psnr"][-1] - e["psnr"][-1] for e, x in vs
                                if e["category"] == c]) for c in cats]
            lines.append(f"| {s} | {v} | {' / '.join(f'{g:+.2f}' for g in gain)} | "
                         f"{np.mean([x['side'][-1] for _, x in vs]):.0f} | "
                         f"{sum(not x['on'] for _, x in vs)} | "
                         + " | ".join(f"{g:+.2f}" for g in per_cat) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", choices=("train", "test"), default="test")
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--categories", nargs="+")
    p.add_argument("--per-category", type=int, help="at most this many images a category")
    p.add_argument("--kodak", type=int, default=None,
                   help="first N Kodak images as 'photos' (test split only; default 6 there)")
    p.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=VARIANTS)
    p.add_argument("--min-share", type=float, default=0.002)
    p.add_argument("--max-colours", type=int, default=256)
    p.add_argument("--block", type=int, default=16)
    p.add_argument("--min-gain", type=float, default=0.05,
                   help="dB some layer must gain for the encoder to turn the tool on")
    p.add_argument("--sweep", action="store_true",
                   help="every --sweep-shares x --sweep-blocks setting; no JPEG 2000")
    p.add_argument("--sweep-shares", type=float, nargs="+",
                   default=[0.0002, 0.0005, 0.001, 0.002, 0.005])
    p.add_argument("--sweep-blocks", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--no-j2k", action="store_true")
    p.add_argument("--time", action="store_true",
                   help="time D's decoder alone on each top layer (and check its output)")
    p.add_argument("--cache", type=Path, help="keep each image's decoded layers here")
    p.add_argument("--json", type=Path, help="write the per-image results here")
    p.add_argument("--tables", type=Path, metavar="JSON",
                   help="only print the tables of a results file this script wrote")
    args = p.parse_args(argv)
    if args.kodak is None:
        args.kodak = 6 if args.split == "test" else 0
    if not 1 <= args.max_colours <= 256 or args.block < 1 or not 0 < args.min_share < 1:
        print("error: --max-colours 1-256, --block >= 1, 0 < --min-share < 1", file=sys.stderr)
        return 2
    if args.sweep:
        args.no_j2k = True
    if args.tables:
        try:
            result = json.loads(args.tables.read_text())
        except (OSError, ValueError) as exc:
            print(f"error: cannot read {args.tables}: {exc}", file=sys.stderr)
            return 1
        args.sweep = bool(result["args"]["sweep"])
    else:
        result = measure(args)
        import rpncodec
        from rpncodec.registry import REGISTRY

        result["weights_sha256"] = {m: REGISTRY[m].sha256 if m in REGISTRY else None
                                    for m in args.models}
        result["rpncodec"] = str(Path(rpncodec.__file__).parent)
        result["args"] = {k: (str(v) if isinstance(v, Path) else v)
                          for k, v in vars(args).items()}
    if args.sweep:
        print(sweep_table(result))
    else:
        setting = result["settings"][0]
        print("\n\n".join((table(result, setting), summary(result, setting),
                            lossless_table(result))))
    times = [v["decode_ms_per_mp"] for e in result["per_image"].values()
             for st in e["settings"].values() for v in st["variants"].values()
             if "decode_ms_per_mp" in v]
    if times:
        print(f"\nD's decoder alone (numpy + scipy, one thread) on {len(times)} top layers: "
              f"median {np.median(times):.0f} ms per megapixel, max {np.max(times):.0f}")
    if args.json and not args.tables:
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
