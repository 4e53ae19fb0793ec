#!/usr/bin/env bash
# The paper's claims at equal budget (docs/results.md, ablations): every variant trained from scratch on
# the small preset (widths 32) with the same schedule, data and seeds (128x128 crops, batch 8,
# plain rate-distortion), then evaluated on Kodak (never trained on), then the table
# (scripts/ablation_joint_table.py). Quality mode trains level by level (STEPS per level: joint
# training from scratch collapses its upper levels); spatial mode jointly (3 x STEPS steps;
# spatial levels do not collapse). A finished run is skipped.
#   scripts/ablation_joint.sh                 # quality; from the repository root, one thread
#   MODE=spatial scripts/ablation_joint.sh    # spatial
set -eux
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PY=${PY:-.venv/bin/python}
KODAK=${KODAK:-../shared/data/kodak}
STEPS=${STEPS:-600}
MODE=${MODE:-quality}
mkdir -p results/ablation
if [ "$MODE" = quality ]; then
  prefix=joint tag=eq schedule="--progressive $STEPS $STEPS $STEPS $STEPS" upper="X X X"
else
  prefix=joint-spatial tag=eqs schedule="--steps $((3 * STEPS))" upper="X X"
fi
up() { for _ in $upper; do printf '%s ' "$1"; done; }  # the codec of every level above 1
for seed in ${SEEDS:-0 1}; do
  for v in "a crcm factorized $(up factorized)" \
           "b crcm factorized $(up conditional)" \
           "c crcm hyperprior $(up conditional)" \
           "d plain hyperprior $(up conditional)" \
           "e crcm hyperprior $(up conditional-mean0)"; do
    set -- $v; name=$1; prediction=$2; shift 2
    run=runs/$tag-$name-s$seed
    # shellcheck disable=SC2086
    [ -f "$run/m.pt" ] || $PY -m rpncodec train --mode "$MODE" --preset small \
        --prediction "$prediction" --latent-codecs "$@" $schedule \
        --crop 128 --batch 8 --no-guidance --threads 1 --seed $seed --val-every 100000 \
        --out "$run" --export "$run/m.pt" > "$run.log" 2>&1
    [ -f "results/ablation/$prefix-$name-s$seed.json" ] || $PY -m rpncodec eval "$KODAK" \
        --model "$run/m.pt" --json "results/ablation/$prefix-$name-s$seed.json" \
        > "results/ablation/$prefix-$name-s$seed.txt"
  done
done
$PY scripts/ablation_joint_table.py results/ablation "$prefix"
