"""Speed of the TypeScript ANS decoder (web/) in Node, per layer of a Kodak-size file.

Encodes one image with a factorized model (default ``rpn-quality-cpu``: every level
factorized, 64 channels; a 768x512 Kodak image is one tile with a 48x32 latent, 98 304 symbols
per layer), writes the web fixtures (``scripts/web_export.py``), and runs
``web/bench/ans.mjs``: the best of ``--repeats`` decodes of each layer's symbols with the
library (the 64-bit ANS state as two 32-bit halves) and with a BigInt state, which must agree.
constriction's own decode of the same strings (``rpncodec.entropy.coding``) is timed beside
them. Needs ``make web`` first. Run it with nothing else on the machine:

    python bench/web_ans.py                                  # kodim23 of ../shared/data/kodak
    python bench/web_ans.py --image PNG --json results/speed/web_ans.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rpncodec import bitstream
from rpncodec.api import encode
from rpncodec.entropy.ans import table_models
from rpncodec.entropy.coding import decode_by_channel
from rpncodec.imageio import atomic_write_bytes, load_image
from rpncodec.zoo import load_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import web_export  # noqa: E402

KODAK = ROOT.parent / "shared" / "data" / "kodak"


def python_ms(data: bytes, loaded, repeats: int) -> list[float]:
    """Best time of constriction's decode of each layer's single tile, in ms."""
    container = bitstream.parse(data)
    config = loaded.config
    size = config.level_sizes(config.latent_size(container.header.height,
                                                 container.header.width))
    params = web_export._params(loaded)
    times = []
    for k, chunk in enumerate(container.chunks):
        prefix = f"levels.{k}.latent_codec.bottleneck."
        models, offsets = table_models(params[prefix + "freqs"]), params[prefix + "offsets"]
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            decode_by_channel(chunk, config.widths[k], size[k], models, offsets)
            best = min(best, time.perf_counter() - start)
        times.append(best * 1e3)
    return times


def cpu_name() -> str:
    """The processor's model name (Linux), else what Python's platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", type=Path, default=KODAK / "kodim23.png")
    parser.add_argument("--model", default="rpn-quality-cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not (ROOT / "web" / "dist" / "rpncodec.mjs").is_file():
        sys.exit("web/dist/rpncodec.mjs is missing: run `make web` first")
    loaded = load_model(args.model)
    if set(loaded.config.latent_codecs) != {"factorized"}:
        sys.exit(f"{args.model} is not factorized at every level; use an rpn-*-cpu model")
    data = encode(load_image(args.image), model=loaded, backend="torch")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bench.rpn").write_bytes(data)
        web_export.export(Path(tmp) / "out", [Path(tmp) / "bench.rpn"], model=args.model)
        run = subprocess.run(["node", "bench/ans.mjs", str(Path(tmp) / "out"), "bench",
                              str(args.repeats)], cwd=ROOT / "web", capture_output=True,
                             text=True, check=True)
    result = json.loads(run.stdout)
    for row, ms in zip(result["rows"], python_ms(data, loaded, args.repeats), strict=True):
        row["ms_constriction"] = ms
    result.update(image=args.image.name, model=args.model, cpu=cpu_name(), cores=os.cpu_count())
    print(f"{args.image.name}, {args.model}, Node {result['node']}, best of {args.repeats}")
    print("layer | symbols | bytes | two halves ms (Msymbols/s) | BigInt ms (Msymbols/s) | "
          "constriction (Python) ms")
    for r in result["rows"]:
        print(f"{r['layer']} | {r['symbols']} | {r['bytes']} | {r['ms_halves']:.1f} "
              f"({r['symbols_per_s_halves'] / 1e6:.1f}) | {r['ms_bigint']:.1f} "
              f"({r['symbols_per_s_bigint'] / 1e6:.1f}) | {r['ms_constriction']:.1f}")
    if args.json:
        atomic_write_bytes(args.json, (json.dumps(result, indent=1) + "\n").encode())


if __name__ == "__main__":
    main()
