#!/usr/bin/env bash
# The paper's claims at equal budget (issue 15, item 4): every variant trained from scratch on
# the small preset (widths 32) with the same schedule, data and seeds (level by level, STEPS per
# level, 128x128 crops, batch 8, plain rate-distortion), then evaluated on Kodak (never trained
# on), then the table (scripts/ablation_joint_table.py). A finished run is skipped.
#   scripts/ablation_joint.sh            # from the repository root; one thread per process
set -eux
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PY=${PY:-.venv/bin/python}
KODAK=${KODAK:-../shared/data/kodak}
STEPS=${STEPS:-600}
mkdir -p results/ablation
for seed in ${SEEDS:-0 1}; do
  for v in "a crcm factorized factorized factorized factorized" \
           "b crcm factorized conditional conditional conditional" \
           "c crcm hyperprior conditional conditional conditional" \
           "d plain hyperprior conditional conditional conditional" \
           "e crcm hyperprior conditional-mean0 conditional-mean0 conditional-mean0"; do
    set -- $v; name=$1; prediction=$2; shift 2
    run=runs/eq-$name-s$seed
    [ -f "$run/m.pt" ] || $PY -m rpncodec train --mode quality --preset small \
        --prediction "$prediction" --latent-codecs "$@" --progressive $STEPS $STEPS $STEPS $STEPS \
        --crop 128 --batch 8 --no-guidance --threads 1 --seed $seed --val-every 100000 \
        --out "$run" --export "$run/m.pt" > "$run.log" 2>&1
    [ -f "results/ablation/joint-$name-s$seed.json" ] || $PY -m rpncodec eval "$KODAK" \
        --model "$run/m.pt" --json "results/ablation/joint-$name-s$seed.json" \
        > "results/ablation/joint-$name-s$seed.txt"
  done
done
$PY scripts/ablation_joint_table.py
