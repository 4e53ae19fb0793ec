"""Replace a shipped model's weights and update everything that pins them, in one command.

    .venv/bin/python scripts/ship_model.py NAME NEW.pt

1. copies ``NEW.pt`` over the model's file in ``rpncodec/weights/`` and writes its sha256
   into ``rpncodec/registry.py``;
2. re-exports its ONNX folder when the model ships one (``rpncodec/weights/onnx/NAME``) and
   writes the manifest's sha256 into the registry;
3. rewrites its golden file (``scripts/make_golden.py NAME``);
4. measures its per-layer bytes and PSNR on the bundled sample and rewrites its row of
   ``SAMPLE_RATE_QUALITY`` in ``tests/test_shipped.py``.
What stays to do by hand is printed at the end (Kodak results, anchors, docs and README).
Each step after the first runs in a fresh process, so it sees the new registry.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

REGISTRY_FILE = REPO / "rpncodec" / "registry.py"
SHIPPED_TEST = REPO / "tests" / "test_shipped.py"

SAMPLE_ROW = """
import json
from rpncodec import bitstream, codec
from rpncodec.cli import SAMPLE
from rpncodec.imageio import load_image
from rpncodec.metrics import psnr
from rpncodec.pyramid import layer_references
from rpncodec.zoo import load_model
loaded = load_model({name!r})
image = load_image(SAMPLE)
data = codec.encode(image, loaded)
container = bitstream.parse(data)
refs = layer_references(image, container.header.shifts)
print(json.dumps([(bitstream.prefix_size(container, k),
                   round(psnr(ref, codec.decode(data, k, loaded).image), 3))
                  for k, ref in enumerate(refs, 1)]))
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if text.count(old) != 1:
        raise SystemExit(f"{path}: expected one {old!r}")
    path.write_text(text.replace(old, new))


def run(*args: str) -> str:
    return subprocess.run([sys.executable, *args], cwd=REPO, check=True, text=True,
                          capture_output=True).stdout


def main(name: str, weights: Path) -> int:
    from rpncodec.registry import REGISTRY, WEIGHTS_DIR

    entry = REGISTRY.get(name)
    if entry is None:
        raise SystemExit(f"{name} is not a shipped model ({', '.join(REGISTRY)})")
    target = WEIGHTS_DIR / entry.file
    shutil.copyfile(weights, target)
    replace_once(REGISTRY_FILE, entry.sha256, sha256(target))
    print(f"{target.relative_to(REPO)}: sha256 {sha256(target)}")
    if entry.onnx_manifest:
        folder = WEIGHTS_DIR / "onnx" / name
        run("-m", "rpncodec", "export-onnx", name, "-o", str(folder))
        manifest = sha256(folder / "manifest.json")
        replace_once(REGISTRY_FILE, entry.onnx_manifest, manifest)
        print(f"{folder.relative_to(REPO)}: manifest sha256 {manifest}")
    run("scripts/make_golden.py", name)
    print(f"tests/golden/{name}.rpn rewritten")
    row = run("-c", SAMPLE_ROW.format(name=name)).strip()
    cells = [f"({b}, {q:.3f})" for b, q in json.loads(row)]
    text = SHIPPED_TEST.read_text()
    pattern = re.compile(rf'^    "{re.escape(name)}": \[[^\]]*\],$', re.M)  # may span lines
    if len(pattern.findall(text)) != 1:
        raise SystemExit(f"{SHIPPED_TEST}: no single SAMPLE_RATE_QUALITY row for {name}")
    head, lines = f'    "{name}": [', [""]
    for cell in cells:  # as many (bytes, PSNR) pairs a line as fit in 100 columns
        if lines[-1] and len(head) + len(lines[-1]) + len(cell) + 4 > 100:
            lines[-1] += ","
            lines.append("")
        lines[-1] += (", " if lines[-1] else "") + cell
    new = head + ("\n" + " " * len(head)).join(lines) + "],"
    SHIPPED_TEST.write_text(pattern.sub(lambda _: new, text))
    print(f"tests/test_shipped.py: {name} -> [{', '.join(cells)}]")
    print("still to do: results/kodak (eval + matched anchor, scripts/kodak_results.sh), "
          "scripts/readme_tables.py, the README's tables and demo table, the report, "
          "scripts/backend_agreement.py")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
