#!/usr/bin/env bash
# The fuzz campaign of docs/limits.md: mutants of three small images coded with each conditional
# default model, decoded on both backends, one JSON per (model, backend) in OUT.
#   scripts/fuzz_results.sh [OUT] [ONNX_CASES] [TORCH_CASES]
# MODELS="..." picks the models (default: the three conditional defaults); each model keeps
# its seeds (1-2, 3-4, 5-6) whichever others run.
# Exits non-zero if any campaign finds a crash, wrong output or slow case.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/fuzz/$(date -u +%Y-%m-%d)}
ONNX_CASES=${2:-2000}
TORCH_CASES=${3:-500}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
mkdir -p "$OUT"
status=0
seed=1
for model in rpn-quality-cond rpn-spatial-cond rpn-spatial-quality; do
  case " ${MODELS:-$model} " in *" $model "*) ;; *) seed=$((seed + 2)); continue ;; esac
  for backend in onnx torch; do
    cases=$([ "$backend" = onnx ] && echo "$ONNX_CASES" || echo "$TORCH_CASES")
    echo "== $model $backend: $cases cases, seed $seed" >&2
    nice -n 10 "$PY" -m rpncodec.utils.fuzz --model "$model" --backend "$backend" \
      --cases "$cases" --seed "$seed" --json "$OUT/$model-$backend.json" \
      --out "$OUT/failures-$model-$backend" || status=1
    seed=$((seed + 1))
  done
done
exit $status
