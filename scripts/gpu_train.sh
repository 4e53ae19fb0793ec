#!/usr/bin/env bash
# One GPU lease = ONE training run that fills the GPU (the 2026-11-26 lease ran ten
# processes at once and they starved each other), continued from the shipped weights and
# exported back, then the CUDA tests once. Usage on the device (repo root), with the data carried as .data/bsds500 (train and
# val only: the tree limit is 64 MiB; never Kodak):
#   MINUTES=9 OUT=$OUT scripts/gpu_train.sh              # quality (default)
#   MODE=spatial MINUTES=9 OUT=$OUT scripts/gpu_train.sh
# Back on the CPU: `rpncodec train ... --init $OUT/<mode>.pt` continues from the export (the
# optimiser state is not brought back: a checkpoint with Adam's moments is over the 16 MiB
# per-file limit of what comes back).
# Local dry run: DEVICE=cpu MINUTES=0.2 BATCH=2 CROP=64 OUT=/tmp/gpu-out scripts/gpu_train.sh
set -u
MODE=${MODE:-quality}
DEVICE=${DEVICE:-cuda}
MINUTES=${MINUTES:-9}
DATA=${DATA:-.data/bsds500}
OUT=${OUT:?set OUT}
PY=${PY:-python3}
BATCH=${BATCH:-64}
CROP=${CROP:-256}
LR=${LR:-1e-4}
if [ "$MODE" = quality ]; then
  CODECS="hyperprior conditional conditional conditional"
else
  CODECS="factorized conditional conditional"  # as the shipped rpn-spatial-cond
fi
INIT=${INIT:-rpncodec/weights/rpn-$MODE-cond.pt}
mkdir -p "$OUT" runs
set -x
PYTHONUNBUFFERED=1 $PY -m rpncodec train --mode "$MODE" --preset cpu --latent-codecs $CODECS \
    --init "$INIT" --device "$DEVICE" --batch "$BATCH" --crop "$CROP" --lr "$LR" \
    --no-guidance --rate-warmup 0 --minutes "$MINUTES" --data "$DATA" \
    --val-every 500 --checkpoint-every 500 --out "runs/gpu-$MODE" --export "$OUT/$MODE.pt" \
    2>"$OUT/train-$MODE.err"
grep -v '"train"' "runs/gpu-$MODE/log.jsonl" > "$OUT/log-$MODE.jsonl"
if [ "$DEVICE" = cuda ]; then  # GPU inference has never run: the CUDA tests, once
  # only the files with CUDA tests: the others may need packages the device lacks (onnx)
  $PY -m pytest -q -p no:cacheprovider -k cuda tests/test_inference.py \
      tests/test_latent_codecs.py 2>&1 | tail -20 > "$OUT/cuda-tests.txt"
fi
ls -la "$OUT"
