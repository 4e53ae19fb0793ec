#!/usr/bin/env bash
# The default models against JPEG 2000 at the same bytes on photos they never saw: BSDS500's
# held-out files (every 50th, as `rpncodec train` holds them out), not Kodak.
#   scripts/heldout_results.sh        # writes results/heldout/*.json, *.txt; prints the gaps
#   scripts/heldout_results.sh --model rpn-quality-screen   # that model and its matched anchor
# DATA=... (default: the training folder) and OUT=... override the folders.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-results/heldout}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
"$PY" - "$DIR" "${DATA:-}" <<'PY'
import sys
from pathlib import Path
from rpncodec.imageio import list_images
from rpncodec.training.config import DEFAULT_DATA
from rpncodec.training.data import split_holdout
for f in split_holdout(list_images(sys.argv[2] or DEFAULT_DATA))[1]:
    (Path(sys.argv[1]) / f.name).symlink_to(f.resolve())
PY
mkdir -p "$OUT"
# shellcheck source=scripts/results_lib.sh
source scripts/results_lib.sh
if [ "${1:-}" = --model ]; then
  run "$2" eval "$DIR" --model "$2"
  run "jpeg2000-layered-$2" anchors "$DIR" --codec jpeg2000-layered --match "$OUT/$2.json"
  exit 0
fi
run rpn-quality-cond eval "$DIR" --model rpn-quality-cond
run jpeg2000-layered anchors "$DIR" --codec jpeg2000-layered --match "$OUT/rpn-quality-cond.json"
run rpn-spatial-cond eval "$DIR" --model rpn-spatial-cond
run jpeg2000-resolutions-matched anchors "$DIR" --codec jpeg2000-resolutions \
  --match "$OUT/rpn-spatial-cond.json"
run rpn-spatial-quality eval "$DIR" --model rpn-spatial-quality
run jpeg2000-spatial-quality-rpn-spatial-quality anchors "$DIR" \
  --codec jpeg2000-spatial-quality --match "$OUT/rpn-spatial-quality.json"
run rpn-quality-screen eval "$DIR" --model rpn-quality-screen
run jpeg2000-layered-rpn-quality-screen anchors "$DIR" --codec jpeg2000-layered \
  --match "$OUT/rpn-quality-screen.json"
"$PY" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
for model, anchor in (("rpn-quality-cond", "jpeg2000-layered"),
                      ("rpn-spatial-cond", "jpeg2000-resolutions-matched"),
                      ("rpn-spatial-quality", "jpeg2000-spatial-quality-rpn-spatial-quality")):
    m, a = (json.load(open(f"{out}/{n}.json"))["results"] for n in (model, anchor))
    gaps = " / ".join(f"{p - q:+.2f}" for p, q in zip(m["psnr-rgb"], a["psnr-rgb"]))
    size = " / ".join(f"{b / c - 1:+.1%}" for b, c in zip(m["bytes"], a["bytes"]))
    print(f"{model} against {anchor}, per layer: {gaps} dB (its bytes {size} of the anchor's)")
PY
