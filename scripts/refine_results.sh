#!/usr/bin/env bash
# Kodak results of encoder-side refinement (docs/results.md, refinement): each default
# model encoded with --refine STEPS, and JPEG 2000 matched to those files' per-image rates.
#   scripts/refine_results.sh            # STEPS=30 by default; ~25 min (quality) + ~15 (spatial)
# Writes results/refine/<model>-refine<STEPS>.json and the matched anchors, then the table
# (scripts/refine_table.py, against results/kodak's plain runs and their matched anchors).
set -euo pipefail
cd "$(dirname "$0")/.."
KODAK=${KODAK:-../shared/data/kodak}
OUT=${OUT:-results/refine}
PY=${PY:-.venv/bin/python}
STEPS=${STEPS:-30}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
for model in rpn-quality-cond rpn-spatial-cond; do
  name="$model-refine$STEPS"
  [ -f "$OUT/$name.json" ] || nice -n 5 "$PY" -m rpncodec eval "$KODAK" --model "$model" \
    --refine "$STEPS" --per-image --json "$OUT/$name.json" > "$OUT/$name.txt"
  if [ "$model" = rpn-quality-cond ]; then
    codec=jpeg2000-layered plain_anchor=results/kodak/jpeg2000-layered.json
  else
    codec=jpeg2000-resolutions plain_anchor=results/kodak/jpeg2000-resolutions-matched-$model.json
  fi
  [ -f "$OUT/$codec-matched-$name.json" ] || "$PY" -m rpncodec anchors "$KODAK" --codec "$codec" \
    --match "$OUT/$name.json" --per-image --json "$OUT/$codec-matched-$name.json" > /dev/null
  echo "## $model, --refine $STEPS"
  "$PY" scripts/refine_table.py "results/kodak/$model.json" "$plain_anchor" "$OUT/$name.json" \
    "$OUT/$codec-matched-$name.json"
done
