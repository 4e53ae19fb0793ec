#!/usr/bin/env bash
# Regenerate every Kodak result, table, plot and the report that the README shows:
#   scripts/kodak_results.sh                 # shipped models, their matched anchors, every sweep
#   scripts/kodak_results.sh --anchors-only  # the classical sweeps and the resolution grid only
#   scripts/kodak_results.sh --models-only   # models, their matched anchors and the report (the
#                                            # sweeps do not depend on the models: keep them)
#   scripts/kodak_results.sh --model NAME    # one model whose weights changed, its matched
#                                            # anchor and the report
# Writes results/kodak/<name>.json (CompressAI shape, per image) and <name>.txt (the table),
# then results/kodak/report/ (index.html, rd.png). KODAK=... and OUT=... override the folders.
# Runs niced: on a shared machine the times in the JSONs are not benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
KODAK=${KODAK:-../shared/data/kodak}
OUT=${OUT:-results/kodak}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # torch (MS-SSIM) stalls with 2 threads on busy cores
mkdir -p "$OUT"
# shellcheck source=scripts/results_lib.sh
source scripts/results_lib.sh
WHAT=${1:-all} ONLY=${2:-}
case "$WHAT" in
  all | --anchors-only | --models-only) ;;
  --model) [ -n "$ONLY" ] || { echo "--model needs a name" >&2; exit 2; } ;;
  *) echo "unknown option $WHAT (see the top of $0)" >&2; exit 2 ;;
esac
if [ "$WHAT" != --anchors-only ]; then
  # every shipped model, then the scalable anchor matched to its per-image layer rates
  # (the default model's matched anchor has the plain name, e.g. jpeg2000-layered.json)
  "$PY" -m rpncodec models | while IFS=$'\t' read -r model mode _ _ default _; do
    [ "$mode" = single ] && continue  # evaluated below, together, as one sweep
    [ -z "$ONLY" ] || [ "$model" = "$ONLY" ] || continue
    run "$model" eval "$KODAK" --model "$model"
    suffix=$([ "$default" = default ] && echo "" || echo "-$model")
    if [ "$mode" = quality ]; then
      run "jpeg2000-layered$suffix" anchors "$KODAK" --codec jpeg2000-layered \
        --match "$OUT/$model.json"
    elif [ "$mode" = spatial ]; then
      run "jpeg2000-resolutions-matched-$model" anchors "$KODAK" \
        --codec jpeg2000-resolutions --match "$OUT/$model.json"
    elif [ "$mode" = spatial-quality ]; then
      run "jpeg2000-spatial-quality-$model" anchors "$KODAK" \
        --codec jpeg2000-spatial-quality --match "$OUT/$model.json"
    fi
  done
fi
if [ "$WHAT" = all ] || [ "$WHAT" = --models-only ]; then
  # the single-layer models: one learned rate sweep, and the simulcast anchors built from them
  # (two rate points each, so every layer gets a curve; files sharing a name join into one)
  s() { printf -- "--model rpn-single-cpu-l%s " "$@"; }
  # shellcheck disable=SC2046
  run rpn-single-cpu eval "$KODAK" --name rpn-single-cpu $(s 500 240 120 45 20)
  run simulcast anchors "$KODAK" --codec simulcast $(s 240 120 45 20)
  run simulcast-low anchors "$KODAK" --codec simulcast $(s 500 240 120 45)
  run simulcast-resolutions anchors "$KODAK" --codec simulcast-resolutions $(s 500 500 500)
  run simulcast-resolutions-high anchors "$KODAK" --codec simulcast-resolutions $(s 240 240 240)
  # the set rpn-spatial-cpu's levels started from (--init-levels): what its training added
  run simulcast-resolutions-start anchors "$KODAK" --codec simulcast-resolutions $(s 500 240 120)
fi
if [ "$WHAT" = all ] || [ "$WHAT" = --anchors-only ]; then
  for codec in jpeg webp jpeg2000; do
    run "$codec" anchors "$KODAK" --codec "$codec"
  done
  run jpeg2000-resolutions anchors "$KODAK" --codec jpeg2000-resolutions --bpp 0.25 0.5 1 2
  for codec in jxl avif; do  # the slow encoders last
    run "$codec" anchors "$KODAK" --codec "$codec"
  done
fi
if [ "$WHAT" != --anchors-only ]; then
  nice -n 10 "$PY" -m rpncodec report "$OUT" --out "$OUT/report" --images "$KODAK" \
    --crop-images kodim07.png kodim23.png
fi
