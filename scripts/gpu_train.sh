#!/usr/bin/env bash
# One GPU lease, all shipped trainings at once: every job below runs in parallel on one GPU
# (each a separate process, time-budgeted with --minutes), then exports to $OUT.
# Usage (on the device, repo root): DEVICE=cuda MINUTES=7.3 scripts/gpu_train.sh
# Data: $DATA (default .data/bsds500, a copy of ../shared/data/train/bsds500; never Kodak).
# Local dry run: DEVICE=cpu MINUTES=0.1 OUT=/tmp/gpu-out scripts/gpu_train.sh
# Session 3 ran it when rpn-quality-cpu was v2 (its qjoint-guided export became v3); the
# shipped spatial model was then warm-started from the singles on the CPU (README, Training).
set -u
DEVICE=${DEVICE:-cuda}
MINUTES=${MINUTES:-7.3}
DATA=${DATA:-.data/bsds500}
OUT=${OUT:?set OUT}
PY=${PY:-python3}
RUNS=${RUNS:-runs/gpu}
mkdir -p "$RUNS" "$OUT"
common=(--device "$DEVICE" --threads 1 --crop 256 --batch 8 --data "$DATA"
        --val-every 500 --checkpoint-every 500)
scale() { $PY -c "print(round($MINUTES * $1, 2))"; }

train() {  # NAME ARGS...: one run, its log and stderr under $RUNS/NAME
    local name=$1; shift
    $PY -m rpncodec train "${common[@]}" --out "$RUNS/$name" "$@" >"$RUNS/$name.out" 2>&1
    echo "$name: exit $? $(grep -o 'sha256 .*' "$RUNS/$name.out")"
}

# 1. The shipped quality model, continued level by level from its CPU-trained weights
#    (each phase trains one level with the levels below frozen; README "Training").
quality() {
    local init=rpncodec/weights/rpn-quality-cpu.pt level phases
    for level in 1 2 3 4; do
        phases=(0 0 0 0); phases[level - 1]=1000000
        local frac; frac=$(echo "0.14 0.18 0.26 0.30" | cut -d' ' -f"$level")
        train "quality-l$level" --mode quality --preset cpu --progressive "${phases[@]}" \
            --grow-from 5 --init "$init" --minutes "$(scale "$frac")" \
            $([ "$level" = 4 ] && echo --export "$OUT/quality.pt")
        init="$RUNS/quality-l$level/checkpoint.pt"
    done
}
quality &

# 2. Guidance ablations: the same joint run with and without the uncertainty-guided stages.
#    Spatial mode from scratch; quality mode as a joint fine-tune of the shipped model.
for g in guided plain; do
    flag=$([ $g = plain ] && echo --no-guidance)
    train "spatial-$g" --mode spatial --preset cpu $flag --minutes "$MINUTES" \
        --export "$OUT/spatial-$g.pt" &
    train "qjoint-$g" --mode quality --preset cpu $flag --rate-warmup 0 \
        --init rpncodec/weights/rpn-quality-cpu.pt --minutes "$MINUTES" \
        --export "$OUT/qjoint-$g.pt" &
done

# 3. Single-layer models (the scalability reference and the simulcast anchor's members).
mkdir -p "$RUNS/single"
for lam in 500 240 120 45 20; do
    train "single-$lam" --mode single --preset cpu --lambdas $lam --minutes "$MINUTES" \
        --export "$RUNS/single/single-$lam.pt" &
done
wait
tar -cf "$OUT/single.tar" -C "$RUNS" single
tar -czf "$OUT/logs.tar.gz" -C "$RUNS" --exclude='*.pt' .
ls -la "$OUT"
