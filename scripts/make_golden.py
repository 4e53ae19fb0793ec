"""Write the golden files that pin the .rpn format and every shipped model's output.

For each shipped model: ``tests/golden/<model>.rpn`` (a 96x64 crop of the bundled sample coded
in 64-pixel tiles, so the tile table is pinned too) and, in ``tests/golden/pixels.npz``, the
decoded pixels of every layer. ``tests/test_golden.py`` re-encodes and re-decodes them.

Run only when a change of format or weights is *meant* (then say so in the commit):
    python scripts/make_golden.py
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from rpncodec import codec
from rpncodec.cli import SAMPLE
from rpncodec.imageio import load_image
from rpncodec.zoo import REGISTRY, load_model

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden"
TILE = 64


def source() -> np.ndarray:
    """The golden input: rows 200-263, columns 300-395 of the bundled sample."""
    return np.ascontiguousarray(load_image(SAMPLE)[200:264, 300:396])


def main() -> int:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    image = source()
    pixels, index = {}, {}
    for name in REGISTRY:
        loaded = load_model(name)
        data = codec.encode(image, loaded, TILE)
        (GOLDEN / f"{name}.rpn").write_bytes(data)
        layers = []
        for k in range(1, loaded.config.layers + 1):
            decoded = codec.decode(data, k, loaded).image
            pixels[f"{name}/{k}"] = decoded
            layers.append(hashlib.sha256(decoded.tobytes()).hexdigest())
        index[name] = {"rpn_sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                       "pixels_sha256": layers}
        print(name, len(data), "bytes", file=sys.stderr)
    np.savez_compressed(GOLDEN / "pixels.npz", **pixels)
    (GOLDEN / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
