"""Write the golden files that pin the .rpn format and every shipped model's output.

For each shipped model: ``tests/golden/<model>.rpn`` (of
:func:`rpncodec.utils.testing.golden_source`, without exact colours: version 3) and, in
``tests/golden/pixels.npz``, the
decoded pixels of every layer. ``tests/test_golden.py`` re-encodes and re-decodes them.
``--exact-colours``: ``tests/golden/exact-colours/<model>.rpn`` of
:func:`rpncodec.utils.testing.flat_source` instead (a version-5 file: exact colours and
colour corrections, residual layers off), with its pixels; ``--residual-layers``:
``tests/golden/residual-layers/<model>.rpn``, the same image with every tool the encoder
chooses (a version-6 file: its top layer is a residual layer).

Run only when a change of format or weights is *meant* (then say so in the commit), or for a
newly shipped model (the others' files are kept as they are):
    python scripts/make_golden.py [MODEL ...]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from rpncodec import codec
from rpncodec.utils.testing import flat_source, golden_source, golden_tools
from rpncodec.zoo import REGISTRY, load_model

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden"
TILE = 64


def main(names: list[str]) -> int:
    folder, image = GOLDEN, golden_source()
    for flag in ("--exact-colours", "--residual-layers"):
        if flag in names:
            names = [n for n in names if n != flag]
            folder, image = GOLDEN / flag[2:], flat_source()
    folder.mkdir(parents=True, exist_ok=True)
    index_file, pixels_file = folder / "index.json", folder / "pixels.npz"
    index = json.loads(index_file.read_text()) if names and index_file.exists() else {}
    pixels = dict(np.load(pixels_file)) if names and pixels_file.exists() else {}
    for name in names or list(REGISTRY):
        loaded = load_model(name)
        data = codec.encode(image, loaded, TILE, **golden_tools(folder.name))
        (folder / f"{name}.rpn").write_bytes(data)
        layers = []
        for k in range(1, loaded.config.layers + 1):
            decoded = codec.decode(data, k, loaded).image
            pixels[f"{name}/{k}"] = decoded
            layers.append(hashlib.sha256(decoded.tobytes()).hexdigest())
        index[name] = {"rpn_sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                       "pixels_sha256": layers}
        print(name, len(data), "bytes", file=sys.stderr)
    np.savez_compressed(pixels_file, **pixels)
    index_file.write_text(json.dumps(index, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
