#!/usr/bin/env bash
# The entropy-model ablation of docs/results.md: heads trained for the same 800 steps
# on the same frozen transforms of rpn-quality-cpu, two seeds per variant (a finished run is
# skipped), then each export on Kodak (never trained on), then the table.
#   scripts/ablation.sh            # from the repository root; one thread per process
set -eux
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
PY=${PY:-.venv/bin/python}
KODAK=${KODAK:-../shared/data/kodak}
mkdir -p results/ablation
for seed in 0 1; do
  for v in "b factorized conditional conditional conditional" \
           "c hyperprior conditional conditional conditional" \
           "e hyperprior conditional-mean0 conditional-mean0 conditional-mean0" \
           "f hyperprior-ms conditional-ms conditional-ms conditional-ms"; do
    set -- $v; name=$1; shift
    run=runs/abl-$name-s$seed
    [ -f "$run/m.pt" ] || $PY -m rpncodec.training.heads --base rpn-quality-cpu --codecs "$@" \
        --steps 800 --minutes 30 --crops 512 --seed $seed --out "$run" --export "$run/m.pt"
    $PY -m rpncodec eval "$KODAK" --model "$run/m.pt" --per-image \
        --json "results/ablation/heads-$name-s$seed.json" > "results/ablation/heads-$name-s$seed.txt"
  done
done
$PY scripts/ablation_table.py
