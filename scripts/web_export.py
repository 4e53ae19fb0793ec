"""Fixtures for the TypeScript decoder (web/): a model's coding tables, and what Python decodes.

    python scripts/web_export.py OUT FILE.rpn [FILE.rpn ...] [--model NAME_OR_PATH]

For each file, writes ``OUT/<stem>.rpn`` (a copy) and ``OUT/<stem>.expected.json``: the header
fields, the layers Python decodes, its model's file (``model_json``), and per tile and level
the symbols of every part coded without a network (the ``factorized`` latents and the
``hyperprior`` side latents) as base64 little-endian int32 arrays, ``null`` elsewhere. Once per
model, ``OUT/<model>.model.json`` (web/src/latent.ts ``ModelJson``: name, sha256, mode, widths
and each level's stored tables).

The symbols come from the Python decoder's own calls (``rpncodec.entropy.coding``) on the
tile strings, so the web tests compare with what Python decodes, not with what it encoded.
Nothing here is committed: tests and benchmarks write these files into temporary folders.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
from pathlib import Path

import numpy as np

from rpncodec import bitstream
from rpncodec.entropy.ans import table_models
from rpncodec.entropy.coding import decode_by_channel, split_parts

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
            "widths": list(config.widths), "levels": levels}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--model", help="model name or .pt path (default: each file's)")
    args = parser.parse_args()
    export(args.out, args.files, args.model)


if __name__ == "__main__":
    main()
