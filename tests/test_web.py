"""The TypeScript decoder (web/) against the Python one: Python writes payloads and files and
records what it decodes of them (symbols, pixels, the float64 networks' outputs, or the error
message), then ``node --test`` runs web/tests/ on the built bundle, which must decode the same
symbols, compute the same networks within 1e-12, give pixels within one level of Python's
(onnxruntime-web against ONNX Runtime) and fail with the same messages. Skips, saying why,
without node or without web/node_modules (``make web``).

The default run covers the models whose export ships (rpn-quality-cond, rpn-quality-screen,
rpn-spatial-cond) and three tiny models (quality, spatial, spatial-quality: its file whole,
cut to each number of layers and cut inside a layer, and with layer shifts its model does not
have), and the exact-colour golden files (version 5: exact colours, and colour corrections
in their top layers), which must decode to the committed pixels; flat-colour images coded
with colour corrections in every layer, which must decode to exactly Python's pixels at
every layer, and their correction strings, whole and damaged; version-6 files (residual
layers over those, and over a tiny model's file), exactly Python's pixels where the base has
exact colours, their headers, whole, cut and hostile, and residual strings over given pixels,
whole, crafted and damaged, whose contexts, residuals and pixels must be Python's exactly (the
same residuals over previous pixels one level off); ``-m slow`` adds every other shipped model
(their exports are built with torch first)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from dataclasses import replace
from functools import partial
from itertools import product
from pathlib import Path
from types import SimpleNamespace

import constriction
import numpy as np
import pytest

from rpncodec import bitstream, codec, exact_colours, residual_layers
from rpncodec import colour_corrections as corrections
from rpncodec.api import partial_note
from rpncodec.entropy import ans
from rpncodec.entropy.ans import decode_groups, encode_groups, quantize_pmf, table_models
from rpncodec.entropy.coding import SCALES, decode_by_scale, encode_by_scale, scale_indices
from rpncodec.errors import BitstreamError, RpncodecError
from rpncodec.utils.testing import with_header

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
GOLDEN = Path(__file__).parent / "golden"
EXACT = GOLDEN / "exact-colours"  # version-5 golden files (scripts/make_golden.py --exact-colours)
EXACT_MODELS = ["rpn-quality-screen", "rpn-quality-cond"]
CORRECTED_MODEL = "rpn-quality-screen"  # the model of the version-5 files
sys.path.insert(0, str(ROOT / "scripts"))
import web_export  # noqa: E402

NODE = shutil.which("node")
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(not (WEB / "node_modules").is_dir(),
                       reason="web/node_modules is missing: run `make web` (npm ci)"),
]


def b64(data: bytes | np.ndarray) -> str:
    raw = data.astype("<i4").tobytes() if isinstance(data, np.ndarray) else bytes(data)
    return base64.b64encode(raw).decode("ascii")


# The TypeScript decoder holds symbols as int32 and refuses an escaped value beyond (only a
# damaged string holds one); Python accepts any int64.
BEYOND_32_BITS = "damaged layer payload (an escaped value beyond 32 bits)"


def _outcome(decode) -> dict:
    """``{"symbols": base64 int32}`` or ``{"error": message}`` of a decode."""
    try:
        symbols = decode()
    except BitstreamError as exc:
        return {"error": str(exc)}
    if np.any(np.abs(symbols + 0.5) > 2**31):
        return {"error": BEYOND_32_BITS}
    return {"symbols": b64(symbols)}


# -- the ANS coder -------------------------------------------------------------------------------
def _random_rows(rng: np.random.Generator) -> list[np.ndarray]:
    rows = []
    for n in (2, 3, 17, 160, 1200, 4096):
        probs = rng.gamma(0.3, size=n) + 1e-12
        rows.append(quantize_pmf(probs))
    skewed = np.ones(40, dtype=np.int64)
    skewed[7] = 2**16 - 39  # one entry takes almost everything
    rows.append(skewed)
    rows.append(np.full(2**8, 2**8, dtype=np.int64))  # flat
    return rows


def ans_cases(rng: np.random.Generator) -> dict:
    """Random tables and payloads, escapes, empty and one-symbol strings, and damaged ones."""
    rows = _random_rows(rng)
    length = max(len(r) for r in rows) + 3  # padding zeros after each escape
    freqs = np.zeros((len(rows), length), dtype=np.int64)
    for i, r in enumerate(rows):
        freqs[i, : len(r)] = r
    offsets = np.array([int(rng.integers(0, len(r) - 1)) for r in rows], dtype=np.int64)
    models = table_models(freqs)
    cases = []

    def add(name: str, groups: list[np.ndarray], tables: list[int],
            damage=lambda d: d) -> None:
        data = damage(encode_groups(groups, tables, models, offsets)) if groups else damage(b"")
        counts = [len(g) for g in groups]
        cases.append({"name": name, "data": b64(data), "counts": counts, "tables": tables,
                      **_outcome(lambda: decode_groups(data, counts, tables, models,
                                                       offsets))})

    def draw(t: int, n: int, escapes: float = 0.0) -> np.ndarray:
        r = rows[t]
        idx = rng.choice(len(r) - 1, size=n, p=r[:-1] / r[:-1].sum())
        sym = idx - offsets[t]
        out = rng.random(n) < escapes
        big = rng.choice([-(2**31), 2**31 - 1, -70000, 123456, len(r) + 3, -len(r) - 5],
                         size=n)
        return np.where(out, big, sym).astype(np.int64)

    tables = list(range(len(rows)))
    for seed in range(6):
        groups = [draw(t, int(rng.integers(0, 400))) for t in tables]
        add(f"random groups {seed}", groups, tables)
    add("escapes", [draw(t, 300, escapes=0.1) for t in tables], tables)
    add("only escapes", [np.array([2**31 - 1, -(2**31), 10**6, -1 - offsets[0]])], [0])
    add("empty groups", [np.zeros(0, np.int64)] * 3, [0, 1, 2])
    add("one symbol", [np.array([1 - offsets[3]])], [3])
    add("one escaped symbol", [np.array([-offsets[2] - 1])], [2])
    for t in tables:
        add(f"one symbol of table {t}", [draw(t, 1)], [t])
    add("first entries only (an empty string)", [np.full(5, -offsets[4])], [4])
    plain = [draw(t, 200) for t in tables]
    escaping = [draw(t, 200, escapes=0.05) for t in tables]
    for (kind, groups), (how, damage) in product(
            {"": plain, ", with escapes": escaping}.items(), {
        "a word appended": lambda d: d + b"\x01\x00\x00\x00",
        "a zero word appended": lambda d: d + bytes(4),
        "a word prepended": lambda d: b"\x07\x00\x00\x00" + d,
        "its last word dropped": lambda d: d[:-4],
        "its first word dropped": lambda d: d[4:],
        "a byte dropped": lambda d: d[:-1],
        "empty": lambda d: b"",
        "a bit flipped": lambda d: d[:9] + bytes([d[9] ^ 0x10]) + d[10:],
    }.items()):
        add(f"damaged: {how}{kind}", groups, tables, damage)
    return {"tables": {"offsets": offsets.tolist(), "freqs": freqs.reshape(-1).tolist(),
                       "length": length}, "cases": cases}


# -- the table-index rule ----------------------------------------------------------------------
def scale_cases(rng: np.random.Generator, model: dict) -> dict:
    """The scales, indices of hard values (every boundary and its neighbours), and payloads
    coded by scale with a shipped model's Gaussian tables."""
    near = np.concatenate([SCALES, np.nextafter(SCALES, 0), np.nextafter(SCALES, np.inf)])
    sigmas = np.concatenate([near, np.exp(rng.uniform(-3, 5, 2000)),
                             [0.0, -1.0, 1e-300, 64.0, 64.000001, 1e300, np.inf, -np.inf, np.nan]])
    indices = scale_indices(sigmas)
    tables = model["levels"][1]["gaussian"]
    freqs = np.asarray(tables["freqs"]).reshape(len(tables["offsets"]), tables["length"])
    models, offsets = table_models(freqs), np.asarray(tables["offsets"])
    payloads = []
    for shape in ((1, 1, 1), (3, 5, 7), (16, 12, 9)):
        scales = np.exp(rng.uniform(-2.5, 4.5, shape))
        on = SCALES[[0, 31, 63]][: scales.size]
        scales.reshape(-1)[: len(on)] = on  # exactly on a boundary
        symbols = np.round(rng.normal(0, scales)).astype(np.int64)
        symbols.reshape(-1)[-1] = 5000  # beyond every table: an escape
        data = encode_by_scale(symbols, scales, models, offsets)
        payloads.append({"name": f"by scale {shape}", "data": b64(data),
                         "scales": scales.reshape(-1).tolist(), **_outcome(
                             lambda d=data, s=scales: decode_by_scale(d, s, models, offsets))})
        moved = scales.copy()
        moved.reshape(-1)[0] = np.nextafter(SCALES[0], np.inf)  # one ulp: table 1, not 0
        payloads.append({"name": f"other indices {shape}", "data": b64(data),
                         "scales": moved.reshape(-1).tolist(), **_outcome(
                             lambda d=data, s=moved: decode_by_scale(d, s, models, offsets))})
    payloads.append({"name": "too short", "data": b64(b"\x00\x01"), "scales": [1.0],
                     **_outcome(lambda: decode_by_scale(b"\x00\x01", np.ones(1), models,
                                                        offsets))})
    return {"scales_hex": [float(s).hex() for s in SCALES], "scales": SCALES.tolist(),
            "sigmas": [repr(float(s)) for s in sigmas], "indices": indices.tolist(),
            "tables": tables, "payloads": payloads}


def golden_by_scale_cases(names: list[str]) -> dict:
    """Every string coded by scale in the golden files of ``names``, with the float64 scales
    the torch decoder computed for it and the symbols it decoded (``GaussianConditional.
    decompress`` recorded), and each string again with one scale moved to the next table,
    which the index check must refuse."""
    from rpncodec.entropy.gaussian import GaussianConditional
    from rpncodec.zoo import load_model

    recorded: list[tuple[GaussianConditional, bytes, np.ndarray, np.ndarray]] = []
    original = GaussianConditional.decompress

    def recording(self, data, scales):
        symbols = original(self, data, scales)
        recorded.append((self, bytes(data), scales.cpu().numpy(), symbols.cpu().numpy()))
        return symbols

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(GaussianConditional, "decompress", recording)
        for name in names:
            codec.decode((GOLDEN / f"{name}.rpn").read_bytes(), None, load_model(name))
    tables: list[dict] = []
    owners: list[GaussianConditional] = []
    cases = []
    for i, (density, data, scales, symbols) in enumerate(recorded):
        assert scales.dtype == np.float64  # the index rule runs in float64
        if density not in owners:
            owners.append(density)
            freqs = density.freqs.cpu().numpy().astype(np.int64)
            tables.append({"offsets": density.offsets.cpu().numpy().tolist(),
                           "freqs": freqs.reshape(-1).tolist(), "length": freqs.shape[1]})
        table = owners.index(density)
        moved = scales.copy().reshape(-1)
        moved[0] = SCALES[(int(scale_indices(moved[:1])[0]) + 1) % len(SCALES)]
        models, offsets = density.coding_models(), density.offsets.cpu().numpy()
        refusal = _outcome(partial(decode_by_scale, data, moved.reshape(scales.shape), models,
                                   offsets))
        for name, values, outcome in (("as decoded", scales, {"symbols": b64(symbols)}),
                                      ("one scale moved", moved, refusal)):
            cases.append({"name": f"string {i}, {name}", "table": table, "data": b64(data),
                          "scales": values.reshape(-1).tolist(), **outcome})
    return {"tables": tables, "cases": cases}


# -- the container ---------------------------------------------------------------------------------
def _mutations(data: bytes, multi: bytes, v4: bytes, v5: bytes) -> dict[str, bytes]:
    """Cut, damaged and hostile variants of the file ``data`` (``multi``: a tiled file;
    ``v4``: a file with exact colours; ``v5``: one with colour corrections)."""
    ranges = bitstream.parse(data).byte_ranges
    hsize, chunk2 = ranges[0][0], ranges[1][0]

    def flip(d: bytes, i: int) -> bytes:
        return d[:i] + bytes([d[i] ^ 0x40]) + d[i + 1:]

    def fix_crc(d: bytes) -> bytes:
        return d[: hsize - 4] + struct.pack(">I", zlib.crc32(d[: hsize - 4])) + d[hsize:]

    out = {f"cut at {n}": data[:n] for n in (0, 1, 3, 4, 6, 7, 20, hsize - 1, hsize,
                                               hsize + 7, hsize + 8, chunk2 + 3,
                                               len(data) - 1)}
    out.update({
        "whole": data,
        "trailing bytes": data + b"xyz",
        "wrong magic": b"\x89PNG" + data[4:],
        "wrong magic, short": b"RPN",
        "version 1": data[:4] + b"\x01" + data[5:],
        "version 3, short": data[:4] + b"\x03",
        "name length 0": data[:6] + b"\x00" + data[7:],
        "name length 65": data[:6] + b"\x41" + data[7:],
        "header CRC": flip(data, hsize - 1),
        "mode byte 3": fix_crc(data[:5] + b"\x03" + data[6:]),
        "name character": fix_crc(data[:8] + b"/" + data[9:]),
        "empty image": with_header(data, height=0),
        "too wide": with_header(data, width=70000),
        "too many pixels": with_header(data, height=40000, width=40000),
        "0 layers": with_header(data, layers=0),
        "17 layers": with_header(data, layers=17),
        "tile 100": with_header(data, tile=100),
        "tile 4096": with_header(data, tile=4096),
        "chunk 3 CRC": flip(data, ranges[2][0] + 10),
        "chunk 1 CRC": flip(data, hsize + 9),
        "chunk 2 impossible length": data[:chunk2] + b"\xff\xff\xff\xff" + data[chunk2 + 4:],
        "truncated to 2": bitstream.truncate(data, 2),
    })
    m = bitstream.parse(multi)
    assert m.header.tiles == 2  # one tile length, then the two strings
    first, second, rest = m.chunks[0], m.chunks[1], list(m.chunks[2:])
    bad_table = bitstream.pack(m.header, [first, second[:2], *rest])
    long_tiles = bitstream.pack(m.header, [first, b"\x00\x01\x00\x00" + second[4:], *rest])
    out.update({"tiled": multi, "tiled, tile table too big": bad_table,
                "tiled, tile lengths too long": long_tiles})
    out.update(_v3_mutations(data))
    out.update(_v4_mutations(v4, data))
    out.update(_v5_mutations(v5, v4))
    return out


def _v3_mutations(data: bytes) -> dict[str, bytes]:
    """Version-3 variants of ``data`` (re-packed): its shift bytes changed, cut inside them."""
    container = bitstream.parse(data)
    v3 = bitstream.pack(container.header, list(container.chunks))
    if v3[4] != 3:  # bitstream.py writes version 2: nothing to test yet
        return {}
    hsize = bitstream.parse(v3).byte_ranges[0][0]
    layers = container.header.layers

    def shifts(values: list[int], mode: bytes = b"") -> bytes:
        body = v3[: hsize - 4 - layers] + bytes(values)
        body = body[:5] + (mode or body[5:6]) + body[6:]
        return body + struct.pack(">I", zlib.crc32(body)) + v3[hsize:]

    return {"v3": v3, "v3 truncated to 2": bitstream.truncate(v3, 2),
            "v3 shifts 2,1,0,0": shifts([2, 1, 0, 0][:layers]),
            "v3 shift 3": shifts([3] + [0] * (layers - 1)),
            "v3 shifts increasing": shifts([0] * (layers - 1) + [1]),
            "v3 cut inside the shifts": v3[: hsize - 4 - layers + 1],
            "v3 cut before the layer count": v3[: hsize - 4 - layers - 1],
            "v3 mode byte 3 (spatial-quality)": shifts([2, 1, 0, 0][:layers], b"\x03"),
            "v3 mode byte 4": shifts([0] * layers, b"\x04")}


def _v4_header(v4: bytes, *, layers: int, shifts: list[int], count: int, palette: bytes,
               radii: list[int], version: int = 4) -> bytes:
    """``v4``'s chunks after a header written byte by byte (no validation, so it can be
    hostile): its fields up to the layer count, then ``layers``, ``shifts``, the colour count
    byte ``count``, ``palette`` and ``radii``, and the CRC."""
    hsize = bitstream.parse(v4).byte_ranges[0][0]
    shifts_at = bitstream.HEADER_FIXED.size + v4[6] + bitstream.HEADER_TAIL.size
    body = (v4[:4] + bytes([version]) + v4[5 : shifts_at - 1] + bytes([layers, *shifts, count])
            + palette + bytes(radii))
    return body + bitstream.U32.pack(zlib.crc32(body)) + v4[hsize:]


def with_colours(v4: bytes, palette: bytes, radii: list[tuple[int, int]]) -> bytes:
    """``v4`` with another palette and radii (Python's header writer: a valid file)."""
    container = bitstream.parse(v4)
    header = replace(container.header, palette=palette, radii=tuple(radii))
    return header.to_bytes() + v4[container.byte_ranges[0][0]:]


def many_colours(v4: bytes) -> bytes:
    """``v4`` with 256 colours (its own first, then others: a header over 112 bytes, more
    ties and other nearest colours) and other radii."""
    palette = bitstream.parse(v4).header.palette
    extra = np.random.default_rng(5).integers(0, 256, (256 - len(palette) // 3, 3), np.uint8)
    return with_colours(v4, palette + extra.tobytes(), [(40, 120), (12, 0), (255, 255), (3, 60)])


def _v4_mutations(v4: bytes, v3: bytes) -> dict[str, bytes]:
    """Version-4 variants of ``v4`` (its palette and radii): whole, cut at each of its
    fields, damaged, re-headed with hostile values; and ``v3`` read as version 4."""
    c = bitstream.parse(v4)
    h, hsize = c.header, c.byte_ranges[0][0]
    radii = [r for pair in h.radii for r in pair]
    colours_at = hsize - 4 - len(radii) - len(h.palette) - 1

    def rehead(**fields) -> bytes:
        values = {"layers": h.layers, "shifts": list(h.shifts),
                  "count": len(h.palette) // 3 - 1, "palette": h.palette, "radii": radii}
        return _v4_header(v4, **{**values, **fields})

    return {
        "v4": v4, "v4 truncated to 2": bitstream.truncate(v4, 2),
        "v4 cut before the colour count": v4[:colours_at],
        "v4 cut after the colour count": v4[: colours_at + 1],
        "v4 cut inside the palette": v4[: colours_at + 5],
        "v4 cut inside the radii": v4[: hsize - 7],
        "v4 cut inside its CRC": v4[: hsize - 2],
        "v4 header CRC": v4[: colours_at + 2] + bytes([v4[colours_at + 2] ^ 1])
        + v4[colours_at + 3:],
        "v4 one colour": rehead(count=0, palette=h.palette[:3]),
        "v4 256 colours": many_colours(v4),
        "v4 radii 0": rehead(radii=[0] * len(radii)),
        "v4 colour count too big": rehead(count=255),
        "v4 0 layers": rehead(layers=0, shifts=[], radii=[]),
        "v4 17 layers": rehead(layers=17, shifts=[0] * 17, radii=[1, 2] * 17),
        "v4 shifts increasing": rehead(shifts=[0] * (h.layers - 1) + [1]),
        "v4 read as version 3": v4[:4] + b"\x03" + v4[5:],
        "v3 read as version 4": v3[:4] + b"\x04" + v3[5:],
        "v4 version 2": rehead(version=2),
    }


def _v5_header(v5: bytes, mask: bytes, version: int = 5) -> bytes:
    """``v5``'s chunks after its header written byte by byte (no validation): its fields up
    to the radii with the version byte ``version``, then ``mask`` (any bytes) and the CRC."""
    hsize = bitstream.parse(v5).byte_ranges[0][0]
    body = v5[:4] + bytes([version]) + v5[5 : hsize - 4 - bitstream.CORRECTED.size] + mask
    return body + bitstream.U32.pack(zlib.crc32(body)) + v5[hsize:]


def _v5_mutations(v5: bytes, v4: bytes) -> dict[str, bytes]:
    """Version-5 variants of ``v5`` (its corrected-layers mask): whole, cut to fewer layers
    and inside the mask, re-headed with other masks (0 and bits above its layers refused),
    read as version 4; and ``v4`` read as version 5."""
    c = bitstream.parse(v5)
    hsize, layers = c.byte_ranges[0][0], c.header.layers
    assert c.header.version == 5 and layers == 4
    return {
        "v5": v5, "v5 truncated to 2": bitstream.truncate(v5, 2),
        "v5 cut before its mask": v5[: hsize - 6], "v5 cut inside its mask": v5[: hsize - 5],
        "v5 cut inside its CRC": v5[: hsize - 1],
        "v5 mask 0": _v5_header(v5, b"\x00\x00"),
        "v5 mask of layers 1 and 3": _v5_header(v5, b"\x00\x05"),
        "v5 mask of layer 5 of 4": _v5_header(v5, bitstream.CORRECTED.pack(1 << layers)),
        "v5 mask 0x8001": _v5_header(v5, b"\x80\x01"),
        "v5 read as version 4": _v5_header(v5, b"", version=4),
        "v4 read as version 5": v4[:4] + b"\x05" + v4[5:],
    }


def _v6_header(data: bytes, fields: bytes, tools: int | None, version: int = 6) -> bytes:
    """``data``'s chunks after a header written byte by byte (no validation): its fields up
    to its shifts with the version byte ``version``, then the tools byte ``tools`` (None:
    none), ``fields`` (any bytes) and the CRC."""
    hsize = bitstream.parse(data).byte_ranges[0][0]
    shifts_at = bitstream.HEADER_FIXED.size + data[6] + bitstream.HEADER_TAIL.size
    body = (data[:4] + bytes([version]) + data[5 : shifts_at + data[shifts_at - 1]]
            + (b"" if tools is None else bytes([tools])) + fields)
    return body + bitstream.U32.pack(zlib.crc32(body)) + data[hsize:]


def _v6_mutations(v6: bytes, plain: bytes, v5: bytes, v4: bytes, sq: bytes) -> dict[str, bytes]:
    """Version-6 variants of ``v6`` (tools 7: exact colours, colour corrections and residual
    layers) and ``plain`` (tools 4): whole, cut to fewer layers and at each field, its tools
    byte, mask and steps re-written (bits it may not have, tools whose fields are not there
    or not in use, steps not a suffix, a corrected residual layer); residual steps on the
    spatial-quality file ``sq`` (its layers 3-5 are the same size, 2 and 3 are not); and
    ``v4``, ``v5`` and ``v6`` read as other versions."""
    c = bitstream.parse(v6)
    h, hsize = c.header, c.byte_ranges[0][0]
    assert h.steps == (0, 0, 3, 1) and h.corrected == 0b11
    tools_at = bitstream.HEADER_FIXED.size + v6[6] + bitstream.HEADER_TAIL.size + h.layers
    plain_at = tools_at - v6[6] + plain[6]
    assert v6[tools_at] == 7 and plain[plain_at] == 4
    exact = (bytes([len(h.palette) // 3 - 1]) + h.palette
             + bytes(v for pair in h.radii for v in pair))
    mask, steps = bitstream.CORRECTED.pack(h.corrected), bytes(h.steps)

    def rehead(tools: int = 7, mask: bytes = mask, steps: bytes = steps) -> bytes:
        return _v6_header(v6, exact + mask + steps, tools)

    out = {
        "v6": v6, "v6 truncated to 3": bitstream.truncate(v6, 3),
        "v6 truncated to 2": bitstream.truncate(v6, 2), "v6 256 colours": many_colours(v6),
        "v6 plain": plain, "v6 plain truncated to 3": bitstream.truncate(plain, 3),
        "v6 plain truncated to 2": bitstream.truncate(plain, 2),
        "v6 cut before its tools byte": v6[:tools_at],
        "v6 cut after its tools byte": v6[: tools_at + 1],
        "v6 cut inside its palette": v6[: tools_at + 4],
        "v6 cut inside its steps": v6[: hsize - 5],
        "v6 cut inside its CRC": v6[: hsize - 2],
        "v6 plain cut after its tools byte": plain[: plain_at + 1],
        "v6 plain cut inside its steps": plain[: plain_at + 3],
        "v6 header CRC": v6[: hsize - 1] + bytes([v6[hsize - 1] ^ 1]) + v6[hsize:],
        "v6 tools 0x3, cut after it": rehead(3)[: tools_at + 1],
        "v6 tools 5 (its mask left out)": rehead(5, mask=b""),
        "v6 mask 0": rehead(mask=b"\x00\x00"),
        "v6 mask of layer 5 of 4": rehead(mask=bitstream.CORRECTED.pack(1 << h.layers)),
        "v6 mask of residual layer 3": rehead(mask=b"\x00\x07"),
        "v6 steps 0,0,0,0": rehead(steps=bytes(4)),
        "v6 plain steps 0,0,0,0": _v6_header(plain, bytes(4), 4),
        "v6 steps 1,0,0,0": rehead(steps=bytes([1, 0, 0, 0])),
        "v6 steps 5,5,5,5": rehead(steps=bytes([5, 5, 5, 5])),
        "v6 steps 0,3,0,4": rehead(steps=bytes([0, 3, 0, 4])),
        "v6 steps 0,0,0,255": rehead(steps=bytes([0, 0, 0, 255])),
        "v6 steps 0,9,9,9 (layer 2 corrected)": rehead(steps=bytes([0, 9, 9, 9])),
        "v6 spatial-quality steps 0,0,5,5,5": _v6_header(sq, bytes([0, 0, 5, 5, 5]), 4),
        "v6 spatial-quality steps 0,0,0,5,5": _v6_header(sq, bytes([0, 0, 0, 5, 5]), 4),
        "v6 read as version 5": v6[:4] + b"\x05" + v6[5:],
        "v5 read as version 6": v5[:4] + b"\x06" + v5[5:],
        "v4 read as version 6": v4[:4] + b"\x06" + v4[5:],
        "v6 plain read as version 3": plain[:4] + b"\x03" + plain[5:],
    }
    out.update({f"v6 tools 0x{tools:x}": rehead(tools) for tools in (0, 3, 6, 0xF, 0x84)})
    return out


def container_cases(data: bytes, multi: bytes, v4: bytes, v5: bytes,
                    v6: dict[str, bytes]) -> list[dict]:
    """What Python's parser, layer selection, partial-decode warning and prefix sizes say of
    each variant of :func:`_mutations` and :func:`_v6_mutations` (``v6``: the files it
    varies)."""
    cases = []
    for name, mutated in {**_mutations(data, multi, v4, v5),
                          **_v6_mutations(v6["v6"], v6["plain"], v5, v4, v6["sq"])}.items():
        case: dict = {"name": name, "data": b64(mutated)}
        try:
            c = bitstream.parse(mutated)
        except RpncodecError as exc:
            cases.append({**case, "error": str(exc), "type": type(exc).__name__})
            continue
        h = c.header
        case["header"] = {"mode": h.mode, "model": h.model, "digest": h.digest.hex(),
                          "height": h.height, "width": h.width, "tile": h.tile,
                          "layers": h.layers, "version": mutated[4],
                          "shifts": list(getattr(h, "shifts", [0] * h.layers)),
                          "palette": h.palette.hex(), "radii": [list(r) for r in h.radii],
                          "corrected": h.corrected, "steps": list(h.steps),
                          "tools": bool(h.palette) + 2 * bool(h.corrected) + 4 * bool(h.steps)}
        case["container"] = {"available": c.available, "damaged": c.damaged,
                             "damage": c.damage, "truncated": c.truncated,
                             "byteRanges": [list(r) for r in c.byte_ranges],
                             "trailing": c.trailing,
                             "tileSizes": [[len(s) for s in bitstream.split_tiles(p, h.tiles)]
                                           for p in c.chunks]}
        chunks = bitstream.select(c, None) if c.available else []
        case["note"] = partial_note(SimpleNamespace(layers=len(chunks), declared=h.layers,
                                                    container=c))
        case["prefix"] = [bitstream.prefix_size(c, k) for k in range(1, c.available + 1)]
        selections = {}
        for layers in (None, 0, 1, 2, h.layers, h.layers + 1):
            try:
                selections[str(layers)] = {"chunks": len(bitstream.select(c, layers))}
            except RpncodecError as exc:
                selections[str(layers)] = {"error": str(exc), "type": type(exc).__name__}
        cases.append({**case, "select": selections})
    return cases


# -- exact colours ---------------------------------------------------------------------------------
def _ties(pixels: np.ndarray, palette: np.ndarray, r1: int) -> list[int]:
    """Pixels of a tile where a tie decides: in pass 1 (another colour as near as the nearest,
    within ``r1``), in pass 2 (snapped neighbours of two colours equally near, the nearest)."""
    d = np.abs(pixels[:, :, None].astype(int) - palette.astype(int)).max(3)
    nearest, key = d.argmin(2), d.min(2)
    first = key <= r1
    other = (d == key[..., None]) & np.any(palette[None, None] != palette[nearest][:, :, None], 3)
    ties2 = 0
    for y, x in zip(*np.nonzero(~first), strict=True):
        y0, x0 = max(y - 3, 0), max(x - 3, 0)
        found: dict[int, set[bytes]] = {}
        for qy, qx in zip(*np.nonzero(first[y0 : y + 4, x0 : x + 4]), strict=True):
            colour = palette[nearest[y0 + qy, x0 + qx]]
            e = int(((pixels[y, x].astype(int) - colour) ** 2).sum())
            found.setdefault(e, set()).add(colour.tobytes())
        ties2 += bool(found) and len(found[min(found)]) > 1
    return [int((first & other.any(2)).sum()), ties2]


def snap_cases(rng: np.random.Generator) -> list[dict]:
    """Tiles snapped by ``exact_colours.snap`` with several radii each: colours near a
    palette's, a lattice palette with pixels midway between its colours (ties in both passes),
    a blurred edge between two flat colours, a palette with repeated colours and one of 256,
    and tiles of one pixel, one row and one column."""
    cases = []

    def add(name: str, pixels: np.ndarray, palette: np.ndarray,
            radii: list[tuple[int, int]]) -> None:
        pixels, palette = pixels.astype(np.uint8), palette.astype(np.uint8)
        for r1, r2 in radii:
            snapped = exact_colours.snap(pixels, palette, r1, r2)
            cases.append({"name": f"{name}, r1 {r1}, r2 {r2}", "height": pixels.shape[0],
                          "width": pixels.shape[1], "r1": r1, "r2": r2,
                          "palette": b64(palette.tobytes()), "pixels": b64(pixels.tobytes()),
                          "snapped": b64(snapped.tobytes()), "ties": _ties(pixels, palette, r1)})

    radii = [(0, 50), (1, 0), (8, 0), (8, 30), (20, 255), (255, 0), (255, 255), (3, 1)]
    palette = rng.integers(0, 256, (6, 3))
    for h, w in ((23, 31), (1, 1), (1, 40), (40, 1), (2, 2), (7, 7)):
        pixels = palette[rng.integers(0, len(palette), (h, w))] + rng.normal(0, 12, (h, w, 3))
        wild = rng.random((h, w)) < 0.2
        pixels[wild] = rng.integers(0, 256, (int(wild.sum()), 3))
        add(f"near {h}x{w}", np.clip(np.round(pixels), 0, 255), palette, radii)
    lattice = np.array(list(product((40, 80, 120), repeat=3)))[rng.permutation(27)[:12]]
    pixels = lattice[rng.integers(0, 12, (24, 24))] + rng.choice([-20, 0, 20], (24, 24, 3))
    add("lattice", pixels, lattice, [(10, 0), (10, 20), (10, 35), (19, 40), (20, 40), (20, 0)])
    edge = np.where(np.arange(32)[None, :, None] < 16, [250, 30, 40], [20, 60, 230])
    edge = np.repeat(edge, 12, 0).astype(float)
    for x in (14, 15, 16, 17):
        edge[:, x] = edge[:, 13] + (edge[:, 18] - edge[:, 13]) * (x - 13) / 5
    edge = np.clip(np.round(edge + rng.normal(0, 4, edge.shape)), 0, 255)
    add("blurred edge", edge, np.array([[250, 30, 40], [20, 60, 230], [255, 255, 255]]),
        [(6, 0), (6, 40), (6, 200), (12, 90)])
    repeated = np.array([[10, 10, 10], [200, 200, 200], [10, 10, 10], [100, 100, 100],
                         [200, 200, 200]])
    add("repeated colours", np.clip(repeated[rng.integers(0, 5, (9, 11))]
                                    + rng.integers(-30, 31, (9, 11, 3)), 0, 255),
        repeated, [(25, 0), (25, 60)])
    add("256 colours", rng.integers(0, 256, (30, 30, 3)), rng.integers(0, 256, (256, 3)),
        [(10, 0), (16, 20), (255, 0)])
    return cases


# -- colour corrections ----------------------------------------------------------------------------
def flat_squares(h: int, w: int, seed: int) -> np.ndarray:
    """A white ``h`` x ``w`` image with saturated flat rectangles: a file of it gets exact
    colours and colour corrections."""
    rng = np.random.default_rng(seed)
    colours = np.array([[255, 0, 0], [0, 0, 255], [0, 200, 0], [255, 255, 0], [0, 0, 0]],
                       np.uint8)
    image = np.full((h, w, 3), 255, np.uint8)
    for _ in range(h * w // 4000 + 4):
        y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
        image[y : y + rng.integers(6, h // 3), x : x + rng.integers(6, w // 3)] = \
            colours[rng.integers(0, len(colours))]
    return image


def rewrite_corrections(data: bytes, change, layers: tuple[int, ...] | None = None) -> bytes:
    """``data`` with each corrected tile string of ``layers`` (default: every corrected layer)
    rewritten as ``change(k, tile, learned, correction)`` gives it: a ``(learned, correction)``
    pair, or None to drop the layer's corrections (its bit is cleared; no bit left: version
    4). No validation of what ``change`` returns."""
    c = bitstream.parse(data)
    header, payloads, corrected = c.header, list(c.chunks), c.header.corrected
    for k in range(1, header.layers + 1):
        if not header.is_corrected(k) or (layers is not None and k not in layers):
            continue
        strings = [change(k, i, *bitstream.split_correction(s)) for i, s in
                   enumerate(bitstream.split_tiles(payloads[k - 1], header.tiles))]
        if all(s is None for s in strings):
            corrected &= ~(1 << (k - 1))
            strings = [bitstream.split_correction(s)[0] for s in
                       bitstream.split_tiles(payloads[k - 1], header.tiles)]
        else:
            strings = [bitstream.join_correction(*s) for s in strings]
        payloads[k - 1] = bitstream.join_tiles(strings)
    return bitstream.pack(replace(header, corrected=corrected), payloads)


def correction_string(shown: np.ndarray, palette: np.ndarray, symbols: np.ndarray) -> bytes:
    """A correction string giving each pixel of ``shown`` its symbol in ``symbols`` (``[h,
    w]``, any integers: 0 keeps), written as ``colour_corrections.choose`` writes one: every
    context with a symbol other than 0 coded, its table from the counts."""
    ctx = corrections.contexts(shown, palette)[0]
    present = [c for c in range(corrections.CONTEXTS) if np.any(symbols[ctx == c])]
    freqs = np.array([quantize_pmf(np.bincount(np.clip(symbols[ctx == c], 0, corrections.ESCAPE),
                                               minlength=corrections.ENTRIES) + 0.5)
                      for c in present])
    words = encode_groups([symbols[ctx == c] for c in present], list(range(len(present))),
                          table_models(freqs), np.zeros(len(present), np.int64))
    return (bytes([sum(1 << c for c in present)])
            + b"".join(corrections.TABLE.pack(*f) for f in freqs) + words)


def _flat_tile(rng: np.random.Generator, h: int, w: int,
               palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A shown tile (flat palette rectangles, a few pixels off the palette) and a reference
    with some pixels in other palette colours, at edges and inside the rectangles."""
    index = np.zeros((h, w), np.int64)
    for _ in range(6):
        y, x = rng.integers(0, h), rng.integers(0, w)
        index[y : y + rng.integers(1, h + 1), x : x + rng.integers(1, w + 1)] = \
            rng.integers(0, len(palette))
    shown = palette[index]
    off = rng.random((h, w)) < 0.05
    shown[off] = rng.integers(0, 256, (int(off.sum()), 3))
    reference = shown.copy()
    wrong = rng.random((h, w)) < 0.15
    reference[wrong] = palette[rng.integers(0, len(palette), int(wrong.sum()))]
    return shown.astype(np.uint8), reference.astype(np.uint8)


def _named(shown: np.ndarray, corrected: np.ndarray, palette: np.ndarray) -> list[int]:
    """How many pixels a correction string named by a rank (a colour of their neighbour
    list) and by an escape (another palette colour)."""
    ys, xs = np.nonzero(np.any(shown != corrected, 2))
    truth = corrections.contexts(corrected, palette)[1][ys, xs]
    lists = corrections.neighbour_colours(corrections.contexts(shown, palette)[1], ys, xs)
    ranked = int(np.sum(np.any(lists == truth[:, None], 1)))
    return [ranked, len(ys) - ranked]


def correction_cases(rng: np.random.Generator, files: dict[str, bytes]) -> list[dict]:
    """Tiles corrected by ``colour_corrections.correct``: every correction string of the
    version-5 ``files`` on Python's snapped pixels of its tile; strings the encoder chooses
    (``choose``) on generated tiles with 1, 5 and 256 colours (ranks and escapes, every
    context), tiles of one pixel, one row and one column; and damaged strings (their
    tables, their ANS part, symbols naming no colour, a negative escaped value; one beyond
    32 bits is :data:`BEYOND_32_BITS`)."""
    cases = []

    def add(name: str, shown: np.ndarray, palette: np.ndarray, string: bytes) -> None:
        case = {"name": name, "height": shown.shape[0], "width": shown.shape[1],
                "palette": b64(palette.tobytes()), "pixels": b64(shown.tobytes()),
                "string": b64(string)}
        symbols: list[np.ndarray] = []

        def recording(*args, **kwargs) -> np.ndarray:
            symbols.append(decode_groups(*args, **kwargs))
            return symbols[-1]

        try:
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(corrections.ans, "decode_groups", recording)
                corrected = corrections.correct(shown, palette, string)
        except BitstreamError as exc:
            case["error"] = str(exc)
        if symbols and np.any(np.abs(symbols[0] + 0.5) > 2**31):
            case["error"] = BEYOND_32_BITS
        if "error" not in case:
            case["corrected"] = b64(corrected.tobytes())
            case["ranks"], case["escapes"] = _named(shown, corrected, palette)
        cases.append(case)

    for stem, data in files.items():
        c = bitstream.parse(data)
        palette = np.frombuffer(c.header.palette, np.uint8).reshape(-1, 3)
        plain = rewrite_corrections(data, lambda *_: None)
        grid = bitstream.tile_grid(c.header.height, c.header.width, c.header.tile)
        for k in range(1, c.header.layers + 1):
            if not c.header.is_corrected(k):
                continue
            shown = codec.decode(plain, k, CORRECTED_MODEL).image
            strings = bitstream.split_tiles(c.chunks[k - 1], c.header.tiles)
            for i, (top, left, th, tw) in enumerate(grid):
                add(f"{stem} layer {k} tile {i + 1}", shown[top : top + th, left : left + tw],
                    palette, bitstream.split_correction(strings[i])[1])
    for colours, (h, w) in product((1, 5, 256), ((33, 47), (1, 1), (1, 40), (40, 1))):
        palette = rng.integers(0, 256, (colours, 3)).astype(np.uint8)
        shown, reference = _flat_tile(rng, h, w, palette)
        string, _ = corrections.choose(reference, shown, palette, 1e-6)
        add(f"chosen, {colours} colours, {h}x{w}", shown, palette, string)
    palette = rng.integers(0, 256, (5, 3)).astype(np.uint8)
    shown, reference = _flat_tile(rng, 40, 40, palette)
    string, _ = corrections.choose(reference, shown, palette, 1e-6)
    ctx = corrections.contexts(shown, palette)[0]
    tables = 1 + corrections.TABLE.size * bin(string[0]).count("1")
    flat = tuple(np.argwhere(ctx == 3)[0])  # a palette colour, every neighbour the same

    def symbol(value: int) -> bytes:
        symbols = np.zeros(ctx.shape, np.int64)
        symbols[flat] = value
        return correction_string(shown, palette, symbols)

    for name, damaged in {
        "whole": string, "empty": b"", "mask 0": b"\x00" + string[1:],
        "mask bit 6": bytes([string[0] | 64]) + string[1:], "mask only": string[:1],
        "cut inside its tables": string[: tables - 1], "no ANS part": string[:tables],
        "a table entry 0": string[:1] + b"\x00\x00" + string[3:],
        "a table summing to 65537": string[:1] + struct.pack(">H", struct.unpack_from(
            ">H", string, 1)[0] + 1) + string[3:],
        "a word appended": string + b"\x01\x00\x00\x00", "a zero word appended": string + bytes(4),
        "its last word dropped": string[:-4], "a byte dropped": string[:-1],
        "a bit flipped": string[:-3] + bytes([string[-3] ^ 0x10]) + string[-2:],
        "rank 1 of an empty list": symbol(1), "rank 8 of an empty list": symbol(8),
        "the colour after the palette": symbol(corrections.ESCAPE + len(palette)),
        "the last colour": symbol(corrections.ESCAPE + len(palette) - 1),
        "a negative escaped value": symbol(-1),
    }.items():
        add(f"damaged: {name}", shown, palette, damaged)
    return cases


def corrected_files() -> dict[str, bytes]:
    """Flat-colour images coded by :data:`CORRECTED_MODEL` with colour corrections (version
    5): one tile (every layer corrected), and six tiles (layers 2-4 corrected, some tiles
    with empty correction strings)."""
    from rpncodec.backend import open_model

    loaded = open_model(CORRECTED_MODEL)
    files = {"v5": codec.encode(flat_squares(256, 256, 1), loaded, residual=False),
             "v5-tiled": codec.encode(flat_squares(128, 192, 1), loaded, tile=64,
                                      residual=False)}
    for (stem, data), mask in zip(files.items(), (0b1111, 0b1110), strict=True):
        header = bitstream.parse(data).header  # the damaged files below need these layers
        assert header.version == 5 and header.corrected == mask, (stem, header.corrected)
    tiled = bitstream.parse(files["v5-tiled"])
    assert any(not bitstream.split_correction(s)[1] for s in bitstream.split_tiles(
        tiled.chunks[1], tiled.header.tiles))  # an empty correction string
    return files


def _learned_too_long(data: bytes, k: int) -> bytes:
    """``data`` with the learned part's length of layer ``k``'s last tile string one byte
    beyond that string."""
    c = bitstream.parse(data)
    payloads = list(c.chunks)
    tiles = bitstream.split_tiles(payloads[k - 1], c.header.tiles)
    tiles[-1] = bitstream.U32.pack(len(tiles[-1]) - 3) + tiles[-1][4:]
    payloads[k - 1] = bitstream.join_tiles(tiles)
    return bitstream.pack(c.header, payloads)


def corrected_decode_files(files: dict[str, bytes]) -> dict[str, tuple[bytes, str]]:
    """The version-5 ``files``; the first again without corrections (its version-4 twin),
    without layer 2's (its tile strings plain, its bit cleared), with layer 1's strings
    empty, cut to 2 layers, and damaged behind a valid CRC: a learned part's length beyond
    its tile string (layer 2; layer 2 of the tiled file, in its last tile), each refused
    with the command line's message; and a correction string naming no colour (layer 4),
    which a decoder skips: that layer shows its snapped pixels uncorrected."""
    data = files["v5"]
    c = bitstream.parse(data)
    palette = np.frombuffer(c.header.palette, np.uint8).reshape(-1, 3)
    shown = codec.decode(rewrite_corrections(data, lambda *_: None), 4, CORRECTED_MODEL).image
    ctx = corrections.contexts(shown, palette)[0]
    symbols = np.zeros(ctx.shape, np.int64)
    symbols[tuple(np.argwhere(ctx == 3)[0])] = corrections.ESCAPE + len(palette)
    no_colour = correction_string(shown, palette, symbols)
    out = {**files,
           "v5-v4-twin": rewrite_corrections(data, lambda *_: None),
           "v5-layer2-plain": rewrite_corrections(data, lambda *_: None, (2,)),
           "v5-layer1-empty": rewrite_corrections(data, lambda k, i, t, _: (t, b""), (1,)),
           "v5-layers2": bitstream.truncate(data, 2),
           "v5-layer2-long-learned": _learned_too_long(data, 2),
           "v5-tiled-layer2-long-learned": _learned_too_long(files["v5-tiled"], 2),
           "v5-layer4-no-colour": rewrite_corrections(
               data, lambda k, i, t, _: (t, no_colour), (4,))}
    assert bitstream.parse(out["v5-layer2-plain"]).header.corrected == 0b1101
    assert bitstream.parse(out["v5-v4-twin"]).header.version == 4
    return {stem: (d, CORRECTED_MODEL) for stem, d in out.items()}


def add_corrected_facts(out: Path) -> None:
    """Into ``out/decode.json``: for each file of :func:`corrected_decode_files` that decodes,
    its version byte and the flag ``exact`` (its pixels must be Python's exactly); for the
    whole one, how many values its corrections change at each layer (against its version-4
    twin's pixels), which must not all be 0."""
    cases = json.loads((out / "decode.json").read_text())
    named = {c["name"]: c for c in cases}
    for case in cases:
        if case["name"].startswith("v5") and "error" not in case:
            case["exact"] = True
            case["version"] = (out / "decode" / case["file"]).read_bytes()[4]
    pixels = [[np.fromfile(out / "decode" / layer["pixels"], np.uint8)
               for layer in named[name]["layers"]] for name in ("v5", "v5-v4-twin")]
    named["v5"]["changed"] = [int(np.sum(a != b)) for a, b in zip(*pixels, strict=True)]
    assert sum(named["v5"]["changed"]) > 0, "the corrections change no pixel"
    (out / "decode.json").write_text(json.dumps(cases))


# -- residual layers -------------------------------------------------------------------------------
def with_residual_layers(data: bytes, image: np.ndarray, model: str,
                         steps: tuple[int, ...]) -> bytes:
    """``data`` with each layer whose step in ``steps`` is not 0 replaced by a residual layer
    at that step (``residual_layers.encode`` of ``image``, tile by tile, over the image the
    layer below shows, the learned base as the onnx backend decodes it, as the fixtures'
    pixels are) and its corrected-layers mask cut to the learned layers: version 6."""
    c = bitstream.parse(data)
    header = c.header
    base = next(k for k, step in enumerate(steps) if step)
    previous = codec.decode(data, base, model, backend="onnx").image
    payloads = list(c.chunks[:base])
    for step in steps[base:]:
        shown, strings = previous.copy(), []
        for top, left, th, tw in bitstream.tile_grid(header.height, header.width, header.tile):
            at = np.s_[top : top + th, left : left + tw]
            string, shown[at] = residual_layers.encode(image[at], previous[at], step)
            strings.append(string)
        payloads.append(bitstream.join_tiles(strings))
        previous = shown
    new = replace(header, steps=steps, corrected=header.corrected & ((1 << base) - 1))
    return bitstream.pack(new, payloads)


def residual_files(corrected: dict[str, bytes], tiny: SimpleNamespace
                   ) -> dict[str, tuple[bytes, str]]:
    """Version-6 files (stem -> (bytes, model)): the encoder's own over the one-tile version-5
    file (``codec.add_residual_layers``), two layers above its model's four (steps 2 and 1:
    ``codec.add_extra_layers``), and residual layers written at chosen steps over it (steps 3
    and 1 after two learned layers, 255, 16 and 2 after one), over the six-tile one (7 and 1)
    and over the tiny quality model's version-3 file (2 and 1: no exact colours)."""
    from rpncodec.backend import open_model

    image, tiled = flat_squares(256, 256, 1), flat_squares(128, 192, 1)
    files = {
        "v6": codec.add_residual_layers(corrected["v5"], image, open_model(CORRECTED_MODEL)),
        "v6-steps-3-1": with_residual_layers(corrected["v5"], image, CORRECTED_MODEL,
                                             (0, 0, 3, 1)),
        "v6-steps-255-16-2": with_residual_layers(corrected["v5"], image, CORRECTED_MODEL,
                                                  (0, 255, 16, 2)),
        "v6-tiled": with_residual_layers(corrected["v5-tiled"], tiled, CORRECTED_MODEL,
                                         (0, 0, 7, 1)),
        "v6-extra": codec.add_extra_layers(corrected["v5"], image, open_model(CORRECTED_MODEL),
                                           (2, 1)),
    }
    out = {stem: (data, CORRECTED_MODEL) for stem, data in files.items()}
    out["v6-plain"] = (with_residual_layers(tiny.data, tiny.image, tiny.model, (0, 0, 2, 1)),
                       tiny.model)
    for stem, (data, _) in out.items():
        assert bitstream.parse(data).header.version == 6, stem
    assert bitstream.parse(out["v6-tiled"][0]).header.tiles == 6
    assert bitstream.parse(out["v6-extra"][0]).header.steps == (0, 0, 0, 0, 2, 1)
    return out


def rewrite_residual(data: bytes, k: int, change) -> bytes:
    """``data`` with each tile string of layer ``k`` rewritten as ``change(tile, string)``
    gives it (no validation)."""
    c = bitstream.parse(data)
    payloads = list(c.chunks)
    strings = bitstream.split_tiles(payloads[k - 1], c.header.tiles)
    payloads[k - 1] = bitstream.join_tiles([change(i, s) for i, s in enumerate(strings)])
    return bitstream.pack(c.header, payloads)


def residual_decode_files(files: dict[str, tuple[bytes, str]]) -> dict[str, tuple[bytes, str]]:
    """The version-6 ``files``; one cut to 3 layers (still version 6) and to 2 (version 5),
    cut inside its layer 4 (layers 1-3 decode, with the warning), and damaged behind a valid
    CRC, each refused with the command line's message: a byte of a residual string flipped
    (layer 4), a tile's string too short (layer 3 of the tiled file, its last tile), part
    lengths beyond a string (layer 4 of the tiled file, its second tile)."""
    data, model = files["v6-steps-3-1"]
    tiled = files["v6-tiled"][0]
    last = bitstream.parse(tiled).header.tiles - 1

    def flip(_: int, s: bytes) -> bytes:
        return s[: len(s) // 2] + bytes([s[len(s) // 2] ^ 0x10]) + s[len(s) // 2 + 1:]

    out = {**files,
           "v6-layers3": (bitstream.truncate(data, 3), model),
           "v6-layers2": (bitstream.truncate(data, 2), model),
           "v6-cut-in-layer4": (data[: bitstream.parse(data).byte_ranges[3][1] - 5], model),
           "v6-layer4-flipped": (rewrite_residual(data, 4, flip), model),
           "v6-tiled-layer3-short": (rewrite_residual(
               tiled, 3, lambda i, s: s[:23] if i == last else s), model),
           "v6-tiled-layer4-beyond": (rewrite_residual(
               tiled, 4, lambda i, s: struct.pack(">I", len(s)) + s[4:] if i == 1 else s),
               model)}
    assert bitstream.parse(out["v6-layers3"][0]).header.version == 6
    assert bitstream.parse(out["v6-layers2"][0]).header.version == 5
    return out


def add_residual_facts(out: Path) -> None:
    """Into ``out/decode.json``: for each version-6 file that decodes, its version byte, its
    learned layers and the flag ``exact`` (its pixels must be Python's exactly: a residual
    layer is integer arithmetic on its base's pixels, which exact colours make Python's),
    unless its base has no exact colours (``v6-plain``: within one level, as every learned
    layer); and how many values each residual layer changes over the layer below it."""
    cases = json.loads((out / "decode.json").read_text())
    for case in cases:
        if not case["name"].startswith("v6") or "error" in case:
            continue
        data = (out / "decode" / case["file"]).read_bytes()
        header = bitstream.parse(data).header
        case["version"] = data[4]
        case["learned"] = header.learned
        case["exact"] = bool(header.palette)
        pixels = [np.fromfile(out / "decode" / layer["pixels"], np.uint8)
                  for layer in case["layers"]]
        case["changed"] = [int(np.sum(pixels[k] != pixels[k - 1]))
                           for k in range(header.learned, len(pixels))]
    (out / "decode.json").write_text(json.dumps(cases))


def _ans_part(groups: list[np.ndarray], models: list, escape_first: bool = False) -> bytes:
    """The ans part of symbol ``groups`` (table entries, group ``g`` with ``models[g]``, an
    index past the table an escape of its value): ``ans.encode_groups`` with its escape rule,
    or with the first symbol of the first group escaped whatever its value
    (``escape_first``: an encoder never writes one, so Python's decoder is tested with it)."""
    coder = constriction.stream.stack.AnsCoder()
    entries, escaped = [], []
    for g, idx in enumerate(groups):
        escape = models[g][1] - 1
        out = (idx < 0) | (idx >= escape)
        if escape_first and g == 0:
            out[0] = True
        escaped.extend(idx[out] - (escape - 1) // 2)  # the values: entry - offset
        entries.append(np.where(out, escape, idx).astype(np.int32))
    if escaped:
        coder.encode_reverse(ans._escape_nibbles(np.asarray(escaped, np.int64)), ans._NIBBLE)
    for idx, (model, _) in zip(reversed(entries), reversed(models), strict=True):
        coder.encode_reverse(idx, model)
    return coder.get_compressed().astype("<u4").tobytes()


def residual_string(q: np.ndarray, step: int, escape_first: bool = False) -> bytes:
    """A residual string coding ``q`` (any integers) as ``residual_layers.encode`` writes one
    (each present context's table fitted to its symbols), values beyond a table escaped;
    ``escape_first``: part 0's first symbol escaped too."""
    parts = []
    for part, (ctx, sym, units) in enumerate(residual_layers._symbols(q)):
        reach = units * residual_layers.largest(step)
        present = np.unique(ctx)
        params = [residual_layers._fit(np.bincount(np.clip(sym[ctx == c], -reach, reach) + reach,
                                                   minlength=2 * reach + 1), reach)
                  for c in present]
        models = table_models(np.stack([residual_layers.table(*p, reach) for p in params])
                              ) if params else []
        words = _ans_part([sym[ctx == c] + reach for c in present], models,
                          escape_first and part == 0)
        parts.append(b"".join(residual_layers.PARAMS.pack(*p) for p in params) + words)
    return residual_layers._join(parts)


def one_level_off(rng: np.random.Generator, previous: np.ndarray, q: np.ndarray,
                  step: int) -> np.ndarray:
    """``previous`` with about a quarter of its values one level up or down, as another
    decoder's learned layer may show them; only values that ``q`` does not clip, so the
    pixels shown over it differ from those shown over ``previous`` exactly there."""
    before = previous.astype(np.int64)
    shown, off = before + step * q, before + rng.choice([-1, 1], previous.shape)
    moved = (rng.random(previous.shape) < 0.25) & (shown >= 1) & (shown <= 254) \
        & (off >= 0) & (off <= 255)
    assert moved.sum() > 0
    return np.where(moved, off, before).astype(np.uint8)


def _screen_tile(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A previous layer's tile (flat rectangles of any colour, a soft gradient, a little
    noise) and a reference near it (noise, and some pixels far off)."""
    previous = np.zeros((h, w, 3)) + np.linspace(0, 40, w)[None, :, None]
    for _ in range(6):
        y, x = rng.integers(0, h), rng.integers(0, w)
        previous[y : y + rng.integers(1, h + 1), x : x + rng.integers(1, w + 1)] += \
            rng.integers(-120, 200, 3)
    previous = np.clip(previous + rng.normal(0, 2, previous.shape), 0, 255)
    reference = previous + rng.normal(0, 6, previous.shape)
    far = rng.random((h, w)) < 0.1
    reference[far] = rng.integers(0, 256, (int(far.sum()), 3))
    return (np.round(previous).astype(np.uint8),
            np.clip(np.round(reference), 0, 255).astype(np.uint8))


def residual_cases(rng: np.random.Generator, files: dict[str, tuple[bytes, str]]) -> dict:
    """Residual strings decoded by ``residual_layers.decode`` over given previous pixels (no
    network, so every result is exact): every residual string of the version-6 ``files``
    over Python's image of the layer below; strings the encoder writes for generated tiles
    at steps 1 to 255, tiles of 1x2 to 64x64 pixels, one row and one column, extreme
    residuals (0 to 255 at step 1, red and blue 510 from green; all -255, their tables' first
    entry, which the green parts code in their tables alone) and clipped ones; crafted
    strings (a residual out of range, escapes, which no table needs, parts of tables without
    words); a one-pixel tile (parts 1-4 empty); damaged strings; and strings decoded again
    over previous pixels one level off (``same_as`` names the case with the original
    pixels). With each its contexts (per part, as ``residual_layers._symbols`` gives them),
    its ``q`` and pixels, or the error; and the tables of chosen parameters and ``largest``
    of every step."""
    cases = []

    def add(name: str, previous: np.ndarray, step: int, string: bytes, **extra) -> None:
        case = {"name": name, "height": previous.shape[0], "width": previous.shape[1],
                "step": step, "previous": b64(previous.tobytes()), "string": b64(string),
                **extra}
        recorded: list[np.ndarray] = []

        def recording(previous, q, step, _apply=residual_layers.apply):
            recorded.append(q)
            return _apply(previous, q, step)

        try:
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(residual_layers, "apply", recording)
                shown = residual_layers.decode(previous, step, string)
        except BitstreamError as exc:
            case["error"] = str(exc)
        else:
            case["shown"] = b64(shown.tobytes())
            case["q"] = b64(recorded[-1])
            case["contexts"] = [b64(ctx.astype(np.uint8).tobytes())
                                for ctx, _, _ in residual_layers._symbols(recorded[-1])]
        cases.append(case)

    def add_one_level_off(name: str) -> None:
        """The case ``name`` again over its previous pixels one level off in places."""
        case = next(c for c in cases if c["name"] == name)
        h, w, step = case["height"], case["width"], case["step"]
        previous = np.frombuffer(base64.b64decode(case["previous"]), np.uint8).reshape(h, w, 3)
        q = np.frombuffer(base64.b64decode(case["q"]), "<i4").reshape(h, w, 3)
        off = one_level_off(rng, previous, q, step)
        add(f"{name}, one level off", off, step, base64.b64decode(case["string"]), same_as=name)
        assert cases[-1]["q"] == case["q"], "the residuals depend on the previous pixels"

    for stem, (data, model) in files.items():
        c = bitstream.parse(data)
        grid = bitstream.tile_grid(c.header.height, c.header.width, c.header.tile)
        for k in range(c.header.learned + 1, c.header.layers + 1):
            previous = codec.decode(data, k - 1, model, backend="onnx").image
            strings = bitstream.split_tiles(c.chunks[k - 1], c.header.tiles)
            for i, (top, left, th, tw) in enumerate(grid):
                add(f"{stem} layer {k} tile {i + 1}", previous[top : top + th, left : left + tw],
                    c.header.steps[k - 1], strings[i])
    for (h, w), step in product(((33, 47), (1, 2), (2, 1), (1, 40), (40, 1), (2, 2), (3, 3),
                                 (5, 5), (64, 64)), (1, 2, 3, 5, 8, 16, 40, 100, 200, 255)):
        previous, reference = _screen_tile(rng, h, w)
        add(f"encoded, {h}x{w}, step {step}", previous, step,
            residual_layers.encode(reference, previous, step)[0])
    black = np.zeros((17, 19, 3), np.uint8)
    extremes = {
        "black to white": (black, np.full_like(black, 255)),
        # every green symbol -255 (at step 1), its table's entry 0, which ANS codes in no
        # words: each green part is its tables alone, which decode to that entry
        "white to black": (np.full_like(black, 255), black),
        "channels 0 or 255": (rng.choice([0, 255], black.shape).astype(np.uint8),
                              rng.choice([0, 255], black.shape).astype(np.uint8)),
        "noise": (rng.integers(0, 256, black.shape, np.uint8),
                  rng.integers(0, 256, black.shape, np.uint8)),
    }
    for (name, (previous, reference)), step in product(extremes.items(), (1, 2, 255)):
        add(f"{name}, step {step}", previous, step,
            residual_layers.encode(reference, previous, step)[0])
    assert not any("error" in c for c in cases), "a string the encoder wrote is refused"
    grey = np.full((9, 12, 3), 100, np.uint8)
    add("clipped at 255, step 200", grey, 200,
        residual_layers.encode(np.full_like(grey, 255), grey, 200)[0])
    add("clipped at 0, step 150", grey, 150,
        residual_layers.encode(np.zeros_like(grey), grey, 150)[0])

    # the same strings over previous pixels one level off: the same residuals
    for name in ("v6-steps-3-1 layer 3 tile 1", "v6-tiled layer 4 tile 2",
                 "encoded, 33x47, step 3", "encoded, 64x64, step 1", "encoded, 5x5, step 8",
                 "noise, step 2"):
        add_one_level_off(name)

    # crafted: values an encoder never writes
    previous, _ = _screen_tile(rng, 12, 13)
    step = 5
    m = residual_layers.largest(step)
    q = np.zeros((12, 13, 3), np.int64)
    q[3, 4] = [2 * m, m, -m]  # red - green is m (in its table), red is 2m (beyond m)
    add("crafted: a residual out of range", previous, step, residual_string(q, step))
    for name, value in (("beyond its table", m + 1), ("beyond 32 bits", 2**40)):
        q = np.zeros((12, 13, 3), np.int64)
        q[0, 0] = value  # on the lattice: part 0 escapes it
        add(f"crafted: an escaped value {name}", previous, step, residual_string(q, step))
    q = np.zeros((12, 13, 3), np.int64)
    q[5, 7] = [1, -2, 3]
    add("crafted: an escape of a value in its table", previous, step,
        residual_string(q, step, escape_first=True))
    add("crafted: the same q, no escape", previous, step, residual_string(q, step))
    # a part of tables without words holds their first entries, whatever the tables' bytes:
    # green parts alone give G = -M everywhere, and R' = B' = 2M then red and blue M
    parts = residual_layers._split(residual_string(q, step))
    tables = [residual_layers.PARAMS.size * len(np.unique(ctx))
              for ctx, _, _ in residual_layers._symbols(q)]
    flat = np.stack([np.full((12, 13), m), np.full((12, 13), -m), np.full((12, 13), m)], -1)
    coded = residual_layers._split(residual_string(flat, step))
    assert [len(p) for p in coded[:5]] == [residual_layers.PARAMS.size * len(np.unique(ctx))
                                           for ctx, _, _ in residual_layers._symbols(flat)[:5]]
    add("crafted: green parts of tables alone, not fitted", previous, step,
        residual_layers._join([b"\xff" * len(p) for p in coded[:5]] + coded[5:]))
    add("crafted: part 6 of tables alone (B' = -2M: out of range)", previous, step,
        residual_layers._join([*parts[:6], parts[6][: tables[6]]]))
    # a 1x1 tile has only a lattice pixel: parts 1-4 hold no symbol, and are empty
    one = np.full((1, 1, 3), 7, np.uint8)
    whole = residual_layers.encode(np.full_like(one, 19), one, 3)[0]
    add("1x1 tile", one, 3, whole)
    add("1x1 tile, only lengths", one, 3, bytes(24))
    parts = residual_layers._split(whole)
    assert not any(parts[1:5]) and all(parts[:1] + parts[5:])
    add("1x1 tile, its empty part 3 not empty", one, 3,
        residual_layers._join([*parts[:3], bytes(4), *parts[4:]]))

    # damaged: one whole string, changed
    previous, reference = _screen_tile(rng, 33, 47)
    step = 3
    whole = residual_layers.encode(reference, previous, step)[0]
    head = 4 * (residual_layers.PARTS - 1)
    lengths = list(struct.unpack_from(">6I", whole))
    parts = residual_layers._split(whole)
    q = residual_layers.quantize(reference.astype(np.int64) - previous, step)
    tables = [residual_layers.PARAMS.size * len(np.unique(ctx))
              for ctx, _, _ in residual_layers._symbols(q)]
    assert all(len(p) > t for p, t in zip(parts, tables, strict=True))

    def joined(new_parts: list[bytes]) -> bytes:
        return residual_layers._join(new_parts)

    def flip(b: bytes, i: int, bit: int = 0x10) -> bytes:
        return b[:i] + bytes([b[i] ^ bit]) + b[i + 1:]

    def changed(part: int, new: bytes) -> bytes:
        return joined([*parts[:part], new, *parts[part + 1:]])

    for name, damaged in {
        "whole": whole, "empty": b"", "23 bytes": whole[:23], "its lengths only": whole[:head],
        "part 0 a byte longer": struct.pack(">6I", lengths[0] + 1, *lengths[1:]) + whole[head:],
        "part 5 a byte shorter": struct.pack(">6I", *lengths[:5], lengths[5] - 1)
        + whole[head:],
        "part lengths a byte beyond it": struct.pack(
            ">6I", lengths[0] + len(parts[6]) + 1, *lengths[1:]) + whole[head:],
        "a part length of 2^32 - 1": struct.pack(">6I", *lengths[:3], 2**32 - 1, *lengths[4:])
        + whole[head:],
        "part 0 shorter than its tables": changed(0, parts[0][: tables[0] - 1]),
        "part 4 shorter than its tables": changed(4, parts[4][: tables[4] - 1]),
        "part 6 without its words": changed(6, parts[6][: tables[6]]),
        "part 2 empty": changed(2, b""),
        "a word of part 0 flipped": changed(0, flip(parts[0], tables[0] + 2)),
        "a word of part 3 flipped": changed(3, flip(parts[3], tables[3] + 1)),
        "a table byte of part 1 changed": changed(1, flip(parts[1], 1, 1)),
        "a table of part 6 with t changed": changed(6, flip(parts[6], 2, 0x40)),
        "a word appended": whole + b"\x01\x00\x00\x00", "a zero word appended": whole + bytes(4),
        "a byte dropped": whole[:-1], "its last word dropped": whole[:-4],
        "parts 1 and 2 swapped": joined([parts[0], parts[2], parts[1], *parts[3:]]),
        "parts 5 and 6 swapped": joined([*parts[:5], parts[6], parts[5]]),
    }.items():
        add(f"damaged: {name}", previous, step, damaged)
    add("damaged: decoded at another step", previous, step + 1, whole)

    params = [(0, 0, 0, 1), (0, 0, 0, 2), (255, 255, 255, 510), (255, 255, 255, 1),
              (0, 255, 0, 510), (255, 0, 128, 255), (16, 16, 200, 3), (255, 255, 0, 510),
              (1, 1, 255, 2)]
    params += [(*(int(v) for v in rng.integers(0, 256, 3)), int(rng.choice(
        [1, 2, 3, 5, 51, 102, 127, 255, 510]))) for _ in range(40)]
    return {"largest": [residual_layers.largest(s) for s in range(1, 256)],
            "tables": [{"params": list(p), "freqs": residual_layers.table(*p).tolist()}
                       for p in params],
            "cases": cases}


# -- the float64 networks -------------------------------------------------------------------------
def _input_channels(runtime, graph: str) -> int:
    """Channels of a graph's input ``x`` (docs/graphs.md, "Which networks")."""
    parts = graph.split(".")
    k, widths = int(parts[1]), runtime.config.widths
    net = parts[-1]
    if net == "prediction":
        return widths[k - 1]
    if net == "head":
        return widths[k - 1] + widths[k]
    if net == "h_s":
        return runtime._params[f"levels.{k}.latent_codec.z_bottleneck.offsets"].size
    return widths[k]  # h_a


def graph_cases(out: Path, names: list[str], rng: np.random.Generator) -> list[dict]:
    """Every graph of each model's export run by the numpy interpreter on random inputs of two
    sizes (the first again last: the shape cache), inputs and outputs as float64 files."""
    from rpncodec.runtime.store import load_runtime

    cases = []
    for name in names:
        runtime = load_runtime(name)
        specs = runtime.graphs._specs
        for graph in specs:
            runs = []
            for h, w in ((5, 7), (4, 4), (5, 7)):
                x = rng.normal(0, 4, (1, _input_channels(runtime, graph), h, w))
                y = runtime.graphs[graph](x)
                stem = f"g{len(cases)}-{len(runs)}"
                (out / f"{stem}.x").write_bytes(x.astype("<f8").tobytes())
                (out / f"{stem}.y").write_bytes(np.asarray(y, "<f8").tobytes())
                runs.append({"x": f"{stem}.x", "shape": list(x.shape), "y": f"{stem}.y",
                             "out_shape": list(y.shape)})
            cases.append({"model": str(name), "graph": graph, "folder": str(runtime.folder),
                          "runs": runs})
    return cases


# -- whole decodes ---------------------------------------------------------------------------------
def decode_cases(out: Path, files: dict[str, tuple[bytes, str]]) -> list[dict]:
    """Each file decoded by the onnx backend: every entropy-decoded part's symbols (tile by
    tile, level by level: a hyperprior's side latent, then the latent), every layer's pixels
    and the partial-decode warning of a decode of every layer, or the error; and the browser
    files of each model (``web_export.export_web_model``)."""
    import rpncodec.runtime.latent as runtime_latent
    from rpncodec.runtime.store import load_runtime

    cases, exported = [], {}
    for stem, (data, model) in files.items():
        if model not in exported:
            exported[model] = web_export.export_web_model(model, out / "models").name
        recorded: list[np.ndarray] = []

        def recording(*args, _decode, _out=recorded, **kwargs):
            _out.append(_decode(*args, **kwargs))
            return _out[-1]

        (out / f"{stem}.rpn").write_bytes(data)
        case = {"name": stem, "file": f"{stem}.rpn", "model": exported[model]}
        with pytest.MonkeyPatch.context() as mp:
            for fn in ("decode_by_scale", "decode_by_channel"):
                mp.setattr(runtime_latent, fn, partial(recording,
                                                       _decode=getattr(runtime_latent, fn)))
            try:
                decoded = codec.decode(data, None, model, backend="onnx")
            except RpncodecError as exc:
                cases.append({**case, "error": str(exc)})
                continue
        header = decoded.container.header
        codecs = load_runtime(model).config.latent_codecs
        symbols, it = [], iter(recorded)
        for _ in range(header.tiles):  # the learned layers' (a residual layer has no latent)
            symbols.append([{part: b64(next(it)) for part in (
                ("side", "latent") if codecs[k].startswith("hyperprior") else ("latent",))}
                for k in range(min(decoded.layers, header.learned))])
        assert next(it, None) is None
        layers = []
        for k in range(1, decoded.layers + 1):
            image = codec.decode(data, k, model, backend="onnx").image
            (out / f"{stem}.layer{k}.rgb").write_bytes(image.tobytes())
            layers.append({"pixels": f"{stem}.layer{k}.rgb", "height": image.shape[0],
                           "width": image.shape[1]})
        cases.append({**case, "symbols": symbols, "layers": layers,
                      "note": partial_note(decoded)})
    return cases


# -- whole files ---------------------------------------------------------------------------------
def decode_error_cases(names: list[str]) -> list[dict]:
    """Files whose factorized strings are damaged behind a valid CRC, and the command line's
    error for each (``codec.decode`` with the torch model)."""
    from rpncodec.zoo import load_model

    damage = {"a word appended": lambda s: s + bytes(4), "empty": lambda s: b"",
              "its last word dropped": lambda s: s[:-4], "not whole words": lambda s: s + b"!"}
    cases = []
    for name in names:
        golden = (GOLDEN / f"{name}.rpn").read_bytes()
        loaded = load_model(name)
        container = bitstream.parse(golden)
        for k in range(1, container.header.layers + 1):
            for how, change in damage.items():
                payloads = list(container.chunks)
                tiles = bitstream.split_tiles(payloads[k - 1], container.header.tiles)
                payloads[k - 1] = bitstream.join_tiles([change(s) for s in tiles])
                bad = bitstream.pack(container.header, payloads)
                with pytest.raises(BitstreamError) as info:
                    codec.decode(bad, k, loaded)
                cases.append({"name": f"{name} layer {k} {how}", "model_json":
                              f"{name}.model.json", "data": b64(bad), "layers": k,
                              "error": str(info.value)})
    return cases


SHIPPED_EXPORTS = ["rpn-quality-cond", "rpn-quality-screen", "rpn-spatial-cond"]


def exact_golden_v4(name: str) -> bytes:
    """The exact-colour golden file of ``name`` without its colour corrections: version 4."""
    return rewrite_corrections((EXACT / f"{name}.rpn").read_bytes(), lambda *_: None)


def exact_colour_files() -> dict[str, tuple[bytes, str]]:
    """The exact-colour golden files; each again without its colour corrections (version 4)
    and as its version-3 twin (the same learned parts, no exact colours), and the first's
    version 4 with 256 colours (a header over 112 bytes) and other radii."""
    files = {}
    for name in EXACT_MODELS:
        files[f"exact-{name}"] = ((EXACT / f"{name}.rpn").read_bytes(), name)
        files[f"exact-{name}-v4"] = (exact_golden_v4(name), name)
        files[f"exact-{name}-v3"] = (with_colours(exact_golden_v4(name), b"", []), name)
    files["exact-rpn-quality-screen-256"] = (many_colours(exact_golden_v4("rpn-quality-screen")),
                                             "rpn-quality-screen")
    return files


def add_committed_pixels(out: Path) -> None:
    """Into ``out/decode.json``: for each exact-colour golden file its committed pixels of
    every layer (``tests/golden/exact-colours/pixels.npz``, checked against index.json), and
    for its version 4 the name of its version-3 twin."""
    index = json.loads((EXACT / "index.json").read_text())
    committed = np.load(EXACT / "pixels.npz")
    cases = json.loads((out / "decode.json").read_text())
    for case in cases:
        name = case["name"].removeprefix("exact-")
        if case["name"] in (f"exact-{n}-v4" for n in EXACT_MODELS):
            assert (out / "decode" / case["file"]).read_bytes()[4] == 4
            case["twin"] = f"exact-{name.removesuffix('-v4')}-v3"
        if not case["name"].startswith("exact-") or name not in EXACT_MODELS:
            continue
        assert (EXACT / f"{name}.rpn").read_bytes()[4] >= 4
        assert len(case["layers"]) == len(index[name]["pixels_sha256"])
        for k, (layer, digest) in enumerate(zip(case["layers"], index[name]["pixels_sha256"],
                                                strict=True), 1):
            pixels = committed[f"{name}/{k}"]
            assert hashlib.sha256(pixels.tobytes()).hexdigest() == digest
            layer["committed"] = f"{case['name']}.layer{k}.committed.rgb"
            (out / "decode" / layer["committed"]).write_bytes(pixels.tobytes())
    (out / "decode.json").write_text(json.dumps(cases))


def write_network_fixtures(out: Path, models: list[str], files: dict[str, tuple[bytes, str]],
                           tiny: list[str]) -> None:
    """``graphs.json`` (every graph of ``models`` and of the ``tiny`` ones) and ``decode.json``
    (``files``: stem -> (bytes, model)) under ``out``."""
    rng = np.random.default_rng(11)
    graphs = out / "graphs"
    graphs.mkdir()
    (out / "graphs.json").write_text(json.dumps(graph_cases(graphs, models + tiny, rng)))
    decodes = out / "decode"
    decodes.mkdir()
    (out / "decode.json").write_text(json.dumps(decode_cases(decodes, files)))


@pytest.fixture(scope="module")
def sq_coded(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A 101x69 image (every halving rounds up) coded by a tiny spatial-quality model: five
    layers at 1/4, 1/2 and three times the full size."""
    from rpncodec.api import encode
    from rpncodec.utils.testing import smooth_image, tiny_model

    folder = tmp_path_factory.mktemp("sq-coded")
    tiny_model(folder, mode="spatial-quality")
    model = str(folder / "tiny-spatial-quality.pt")
    return SimpleNamespace(data=encode(smooth_image(69, 101, seed=4), model=model),
                           model=model)


def spatial_quality_files(data: bytes, model: str) -> dict[str, tuple[bytes, str]]:
    """A spatial-quality file whole, cut to each number of whole layers (valid files declaring
    that many), cut inside its layers 3 and 5 (the intact layers decode, with the command
    line's warning), and re-headed with layer shifts its model does not have (refused)."""
    container = bitstream.parse(data)
    layers = container.header.layers
    assert container.header.shifts == (2, 1, 0, 0, 0)
    files = {"tiny-sq": data}
    files.update({f"tiny-sq-layers{k}": bitstream.truncate(data, k) for k in range(1, layers)})
    files.update({f"tiny-sq-cut-in-layer{k}": data[: container.byte_ranges[k - 1][1] - 5]
                  for k in (3, 5)})
    files["tiny-sq-other-shifts"] = with_header(data, shifts=bytes([1, 1, 0, 0, 0]))
    return {stem: (d, model) for stem, d in files.items()}


@pytest.fixture(scope="module")
def corrected() -> dict[str, bytes]:
    return corrected_files()


@pytest.fixture(scope="module")
def residual(corrected: dict[str, bytes], cli_coded) -> dict[str, tuple[bytes, str]]:
    return residual_files(corrected, cli_coded)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory, cli_coded, spatial_coded,
             sq_coded, corrected, residual) -> Path:
    out = tmp_path_factory.mktemp("web-fixtures")
    files = out / "files"
    web_export.export(files, sorted(GOLDEN.glob("*.rpn")))
    web_export.export(files, [cli_coded.rpn], model=cli_coded.model)  # a tiny model's file
    sq_file = out / "tiny-sq.rpn"
    sq_file.write_bytes(sq_coded.data)
    web_export.export(files, [sq_file], model=sq_coded.model)
    rng = np.random.default_rng(7)
    cond = json.loads((files / "rpn-quality-cond.model.json").read_text())
    (out / "ans.json").write_text(json.dumps(ans_cases(rng)))
    (out / "scales.json").write_text(json.dumps(scale_cases(rng, cond)))
    (out / "golden_by_scale.json").write_text(json.dumps(golden_by_scale_cases(
        ["rpn-quality-cond", "rpn-spatial-cond"])))
    (out / "container.json").write_text(json.dumps(container_cases(
        (GOLDEN / "rpn-quality-cpu.rpn").read_bytes(),
        (GOLDEN / "rpn-quality-cond.rpn").read_bytes(),
        exact_golden_v4("rpn-quality-screen"), corrected["v5"],
        {"v6": residual["v6-steps-3-1"][0], "plain": residual["v6-plain"][0],
         "sq": sq_coded.data})))
    (out / "snap.json").write_text(json.dumps(snap_cases(rng)))
    (out / "corrections.json").write_text(json.dumps(correction_cases(rng, corrected)))
    (out / "residual.json").write_text(json.dumps(residual_cases(rng, residual)))
    (out / "decode_errors.json").write_text(json.dumps(decode_error_cases(
        ["rpn-quality-cpu", "rpn-spatial-cpu", "rpn-quality-cond"])))
    files = {name: ((GOLDEN / f"{name}.rpn").read_bytes(), name) for name in SHIPPED_EXPORTS}
    files["tiny-quality"] = (cli_coded.data, cli_coded.model)
    files["tiny-spatial"] = (spatial_coded.data, spatial_coded.model)
    files.update(spatial_quality_files(sq_coded.data, sq_coded.model))
    files.update(exact_colour_files())
    files.update(corrected_decode_files(corrected))
    files.update(residual_decode_files(residual))
    write_network_fixtures(out, SHIPPED_EXPORTS, files, [cli_coded.model, spatial_coded.model,
                                                         sq_coded.model])
    add_committed_pixels(out)
    add_corrected_facts(out)
    add_residual_facts(out)
    return out


def _node_tests(fixtures: Path, tests: list[str]) -> str:
    """Build the bundle, run ``tests`` (web/ paths) with ``fixtures``; their output."""
    build = subprocess.run(["npm", "run", "--silent", "build"], cwd=WEB, capture_output=True,
                           text=True, timeout=120)
    assert build.returncode == 0, build.stdout + build.stderr
    env = {**os.environ, "RPNCODEC_WEB_FIXTURES": str(fixtures)}
    run = subprocess.run([NODE, "--test", "--test-reporter=spec", *tests], cwd=WEB, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-4000:]
    return run.stdout


def test_the_typescript_decoder_matches_python(fixtures: Path) -> None:
    tests = sorted(str(p.relative_to(WEB)) for p in (WEB / "tests").glob("*.test.mjs"))
    out = _node_tests(fixtures, tests)
    assert "# skipped 0" in out or "skipped 0" in out, out[-3000:]


def _fetches_exactly(folder: Path, files: dict[str, bytes]) -> None:
    """fetcher.js reads exactly each layer's prefix of each of ``files`` (served from
    ``folder``), and says where each layer ends."""
    from test_web_site import fetch_in_node, http_folder

    for name, data in files.items():
        (folder / name).write_bytes(data)
    with http_folder(folder) as url:
        for name, data in files.items():
            c = bitstream.parse(data)
            prefixes = [bitstream.prefix_size(c, k) for k in range(1, c.header.layers + 1)]
            got = fetch_in_node([(f"{url}/{name}", k) for k in range(1, len(prefixes) + 1)])
            for k, result in enumerate(got, 1):
                assert result["fetched"] == result["held"] == prefixes[k - 1], (name, k, result)
                assert result["ends"] == prefixes[:k]


def test_the_viewer_fetches_exactly_each_layer_of_a_version_5_file(
        tmp_path: Path, corrected: dict[str, bytes]) -> None:
    """fetcher.js (the site's progressive download) finds a version-5 header's size (its
    mask after the radii), with 5 or 256 colours, and reads exactly each layer's prefix."""
    files = {"v5.rpn": corrected["v5"], "v5-256.rpn": many_colours(corrected["v5"])}
    for data in files.values():
        assert bitstream.parse(data).header.version == 5
    _fetches_exactly(tmp_path, files)


def test_the_viewer_fetches_exactly_each_layer_of_a_version_6_file(
        tmp_path: Path, residual: dict[str, tuple[bytes, str]]) -> None:
    """fetcher.js finds a version-6 header's size (its tools byte after the shifts, then the
    fields it names: palette and radii, mask, one step per layer) with tools 7 and 4 and 256
    colours, and reads exactly each layer's prefix."""
    v6, plain = residual["v6-steps-3-1"][0], residual["v6-plain"][0]
    files = {"v6.rpn": v6, "v6-256.rpn": many_colours(v6), "v6-plain.rpn": plain,
             "v6-encoder.rpn": residual["v6"][0], "v6-extra.rpn": residual["v6-extra"][0]}
    headers = [bitstream.parse(d).header for d in files.values()]
    assert all(h.version == 6 for h in headers)
    assert not headers[2].palette and headers[0].corrected
    _fetches_exactly(tmp_path, files)


@pytest.mark.slow
def test_every_other_shipped_model_decodes_in_typescript(tmp_path: Path) -> None:
    """The models whose export is built on first use (rpn-quality-cpu, rpn-spatial-cpu, the
    single-layer ones): every graph, and their golden files' symbols and pixels."""
    from rpncodec.registry import REGISTRY

    others = [name for name in REGISTRY if name not in SHIPPED_EXPORTS]
    files = {name: ((GOLDEN / f"{name}.rpn").read_bytes(), name) for name in others}
    write_network_fixtures(tmp_path, others, files, [])
    out = _node_tests(tmp_path, ["tests/graph.test.mjs", "tests/decode.test.mjs"])
    assert "every file decodes to Python's symbols and pixels" in out, out[-3000:]
