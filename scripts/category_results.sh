#!/usr/bin/env bash
# A model against layered JPEG 2000 (same bytes per image and layer), WebP and AVIF on each
# category of the non-photographic test part (scripts/nonphoto/build.py; never trained on).
#   scripts/category_results.sh                      # rpn-quality-cond and the anchors
#   MODEL=runs/x/y.pt NAME=y scripts/category_results.sh  # another model (anchors reused)
# writes results/categories/CATEGORY/*.json, *.txt; then scripts/category_table.py prints the
# tables. DATA=... (default .data/nonphoto/test) and OUT=... override the folders.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-.data/nonphoto/test}
MODEL=${MODEL:-rpn-quality-cond}
NAME=${NAME:-$MODEL}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
[ -d "$DATA" ] || { echo "no $DATA: run scripts/nonphoto/build.py first" >&2; exit 1; }
# shellcheck source=scripts/results_lib.sh
source scripts/results_lib.sh
for dir in "$DATA"/*/; do
  cat=$(basename "$dir")
  OUT=${OUT_ROOT:-results/categories}/$cat
  mkdir -p "$OUT"
  run "$NAME" eval "$dir" --model "$MODEL"
  run "jpeg2000-layered-$NAME" anchors "$dir" --codec jpeg2000-layered --match "$OUT/$NAME.json"
  [ -f "$OUT/webp.json" ] || run webp anchors "$dir" --codec webp \
    --quality 0 5 10 20 30 40 50 60 70 80 90 95 100
  [ -f "$OUT/avif.json" ] || run avif anchors "$dir" --codec avif \
    --quality 10 20 35 50 60 70 80 90 95
done
