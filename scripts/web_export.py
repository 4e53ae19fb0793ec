"""Files for the TypeScript decoder (web/): a model's files per level, and test fixtures.

    python scripts/web_export.py models OUT [NAME ...]        # default: every shipped model
    python scripts/web_export.py fixtures OUT FILE.rpn [FILE.rpn ...] [--model NAME_OR_PATH]

``models`` writes, per model, the folder the browser decoder fetches (``OUT/<name>/``; see
:func:`export_web_model`): ``model.json`` and, per level, its float64 coding networks and
tables (``level<k>.json`` + ``level<k>.bin``) and its float32 synthesis
(``synthesis<k>.onnx``), so that decoding layer k fetches levels 1..k and one synthesis.
It reads the model's ONNX export (:func:`rpncodec.runtime.store.load_runtime`: the shipped
one, the cached one, or one built with torch), without torch otherwise.

``fixtures``: for each file, writes ``OUT/<stem>.rpn`` (a copy) and
``OUT/<stem>.expected.json``: the header fields, the layers Python decodes, its model's file
(``model_json``), and per tile and level the symbols of every part coded without a network
(the ``factorized`` latents and the ``hyperprior`` side latents) as base64 little-endian int32
arrays, ``null`` elsewhere. Once per model, ``OUT/<model>.model.json`` (web/src/latent.ts
``ModelJson``: name, sha256, mode, widths, layer shifts and each level's stored tables).

The symbols come from the Python decoder's own calls (``rpncodec.entropy.coding``) on the
tile strings, so the web tests compare with what Python decodes, not with what it encoded.
Nothing here is committed: tests and benchmarks write these files into temporary folders.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from rpncodec import bitstream
from rpncodec.entropy.ans import table_models
from rpncodec.entropy.coding import decode_by_channel, split_parts
from rpncodec.files import write_folder

FACTORIZED = {"factorized": "bottleneck.", "hyperprior": "z_bottleneck.",
              "hyperprior-ms": "z_bottleneck."}


def _tables(params: dict[str, np.ndarray], prefix: str) -> dict | None:
    if prefix + "freqs" not in params:
        return None
    freqs = params[prefix + "freqs"].astype(np.int64)
    return {"offsets": params[prefix + "offsets"].astype(np.int64).tolist(),
            "freqs": freqs.reshape(-1).tolist(), "length": int(freqs.shape[1])}


def _params(loaded) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in loaded.model.state_dict().items()}


def model_json(loaded) -> dict:
    """The description web/src/latent.ts ``modelFromJson`` reads."""
    params, config = _params(loaded), loaded.config
    levels = []
    for k, codec in enumerate(config.latent_codecs):
        prefix = f"levels.{k}.latent_codec."
        levels.append({"codec": codec,
                       "factorized": _tables(params, prefix + FACTORIZED.get(codec, "-")),
                       "gaussian": _tables(params, prefix + "gaussian.")})
    return {"name": loaded.name, "sha256": loaded.sha256, "mode": config.mode,
            "widths": list(config.widths), "shifts": list(config.layer_shifts),
            "levels": levels}


def _b64(symbols: np.ndarray) -> str:
    return base64.b64encode(symbols.astype("<i4").tobytes()).decode("ascii")


def expected_symbols(data: bytes, loaded) -> dict:
    """What Python decodes of ``data``'s factorized parts, tile by tile and level by level."""
    container = bitstream.parse(data)
    header, config, params = container.header, loaded.config, _params(loaded)
    chunks = bitstream.select(container, None)
    grid = bitstream.tile_grid(header.height, header.width, header.tile)
    strings = [bitstream.split_tiles(chunk, len(grid)) for chunk in chunks]
    tiles = []
    for i, (_, _, th, tw) in enumerate(grid):
        sizes = config.level_sizes(config.latent_size(th, tw))
        levels = []
        for k, layer in enumerate(strings):
            codec = config.latent_codecs[k]
            tables = _tables(params, f"levels.{k}.latent_codec." + FACTORIZED.get(codec, "-"))
            latent = side = None
            if tables is not None:
                models = table_models(params[f"levels.{k}.latent_codec."
                                             f"{FACTORIZED[codec]}freqs"])
                offsets = np.asarray(tables["offsets"])
                if codec == "factorized":
                    latent = _b64(decode_by_channel(layer[i], config.widths[k], sizes[k],
                                                    models, offsets))
                else:
                    z, _ = split_parts(layer[i], "side information")
                    size = ((sizes[k][0] + 3) // 4, (sizes[k][1] + 3) // 4)
                    side = _b64(decode_by_channel(z, len(offsets), size, models, offsets))
            levels.append({"latent": latent, "side": side})
        tiles.append(levels)
    return {"model": header.model, "mode": header.mode, "height": header.height,
            "width": header.width, "tile": header.tile, "declared": header.layers,
            "layers": len(chunks), "tiles": tiles}


def export(out: Path, files: list[Path], model: str | None = None) -> None:
    """Write the fixtures of ``files`` (decoded with ``model``, default each header's)."""
    from rpncodec.zoo import load_model

    out.mkdir(parents=True, exist_ok=True)
    models: dict[str, object] = {}
    for path in files:
        data = path.read_bytes()
        name = model or bitstream.parse(data).header.model
        if name not in models:
            models[name] = load_model(name)
            info = model_json(models[name])
            (out / f"{info['name']}.model.json").write_text(json.dumps(info))
        shutil.copyfile(path, out / f"{path.stem}.rpn")
        expected = expected_symbols(data, models[name])
        expected["model_json"] = f"{models[name].name}.model.json"
        (out / f"{path.stem}.expected.json").write_text(json.dumps(expected))


# -- the browser decoder's model files -------------------------------------------------------
WEB_FORMAT = 1
# a level's coding parameters outside its networks (the networks' own are their graphs' params)
CODEC_KEYS = ("offset", "bottleneck.quantiles", "bottleneck.offsets", "bottleneck.freqs",
              "z_bottleneck.quantiles", "z_bottleneck.offsets", "z_bottleneck.freqs",
              "gaussian.offsets", "gaussian.freqs")
# the networks a decoder runs, per latent codec family (h_a is the encoder's)
DECODE_NETS = {"factorized": (), "conditional": ("head",), "hyperprior": ("h_s",)}


def level_shifts(config) -> list[int]:
    """How many times each level's image is halved relative to the full size (the model's
    layer shifts, which its files' headers record)."""
    return list(config.layer_shifts)


def synthesis_inputs(config) -> list[list[int]]:
    """The levels whose latents (concatenated on channels, in order) level k's synthesis
    reads: the levels up to k at k's resolution (quality: 0..k; spatial: k alone;
    spatial-quality: k alone below the full size, then the full-size levels up to k)."""
    return [list(config.synthesis_levels(k)) for k in range(config.layers)]


def _level_files(manifest: dict, blob: bytes, graphs: dict, config, k: int) -> tuple[dict, bytes]:
    """Level ``k``'s description (its graphs and array index) and its arrays."""
    from rpncodec.latent_specs import latent_codec_spec

    codec = config.latent_codecs[k]
    spec = latent_codec_spec(codec)
    names = ([f"levels.{k}.prediction"] if k else []) + [
        f"levels.{k}.latent_codec.{net}" for net in DECODE_NETS[spec.family]]
    level_graphs = {name: graphs[name] for name in names}
    keys = [key for g in level_graphs.values() for key in g["params"]]
    for g in level_graphs.values():  # tensor attributes stored as arrays
        for node in g["nodes"]:
            keys += [v["array"] for v in node["attrs"].values()
                     if isinstance(v, dict) and "array" in v]
    keys += [f"levels.{k}.latent_codec.{key}" for key in CODEC_KEYS
             if f"levels.{k}.latent_codec.{key}" in manifest["arrays"]]
    parts, index, offset = [], {}, 0
    for key in dict.fromkeys(keys):  # unique, in order
        dtype, shape, start = manifest["arrays"][key]
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        data = blob[start:start + n]
        data += b"\0" * (-len(data) % 8)
        index[key] = [dtype, shape, offset]
        parts.append(data)
        offset += len(data)
    desc = {"format": WEB_FORMAT, "level": k, "codec": codec, "family": spec.family,
            "use_prior": spec.use_prior, "means": spec.means, "graphs": level_graphs,
            "arrays": index}
    return desc, b"".join(parts)


def export_web_model(name: str, out: Path) -> Path:
    """Write the browser decoder's files of model ``name`` (shipped name, ``.pt`` path or
    export folder) into ``out/<name>/`` (replaced atomically): ``model.json``, and per level
    ``level<k>.json``, ``level<k>.bin`` and ``synthesis<k>.onnx`` (k from 0). ``model.json``
    lists every file's sha256, size and gzipped size; the decoder checks each file it fetches.
    """
    from rpncodec.runtime.store import GRAPHS, MANIFEST, load_runtime, read_checked

    runtime = load_runtime(name)
    folder, config = runtime.folder, runtime.config
    manifest = json.loads((folder / MANIFEST).read_text())
    blob = read_checked(folder / "arrays.bin", manifest["files"]["arrays.bin"])
    graphs = json.loads(read_checked(folder / GRAPHS, manifest["files"][GRAPHS]))["graphs"]
    files: dict[str, bytes] = {}
    levels = []
    shifts, inputs = level_shifts(config), synthesis_inputs(config)
    for k in range(config.layers):
        desc, data = _level_files(manifest, blob, graphs, config, k)
        files[f"level{k}.json"] = (json.dumps(desc, separators=(",", ":")) + "\n").encode()
        files[f"level{k}.bin"] = data
        synthesis = f"synthesis{k}.onnx"
        files[synthesis] = read_checked(folder / synthesis, manifest["files"][synthesis])
        levels.append({"codec": config.latent_codecs[k], "width": config.widths[k],
                       "shift": shifts[k], "synthesis_inputs": inputs[k],
                       "files": {"graphs": f"level{k}.json", "arrays": f"level{k}.bin",
                                 "synthesis": synthesis}})
    description = {
        "format": WEB_FORMAT, "name": runtime.name, "sha256": runtime.sha256,
        "mode": config.mode, "widths": list(config.widths),
        "latent_codecs": list(config.latent_codecs), "pad_multiple": config.pad_multiple,
        "levels": levels,
        "files": {f: {"sha256": hashlib.sha256(d).hexdigest(), "bytes": len(d),
                      "gzip_bytes": len(gzip.compress(d, 9, mtime=0))}
                  for f, d in files.items()},
    }
    model_json = (json.dumps(description, indent=1) + "\n").encode()
    return write_folder(out / runtime.name, {**files, "model.json": model_json})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    models = sub.add_parser("models", help="the browser decoder's files of each model")
    models.add_argument("out", type=Path)
    models.add_argument("names", nargs="*", help="model names or .pt paths (default: every "
                        "shipped model)")
    fixtures = sub.add_parser("fixtures", help="test fixtures: files and what Python decodes")
    fixtures.add_argument("out", type=Path)
    fixtures.add_argument("files", type=Path, nargs="+")
    fixtures.add_argument("--model", help="model name or .pt path (default: each file's)")
    args = parser.parse_args()
    if args.command == "models":
        from rpncodec.registry import REGISTRY

        names = args.names or list(REGISTRY)
        for name in names:
            print(export_web_model(name, args.out))
    else:
        export(args.out, args.files, args.model)


if __name__ == "__main__":
    main()
