#!/usr/bin/env bash
# Run a command while any background `rpncodec train` is paused, so timings are not shared
# with training; the trainer is resumed on exit, whatever happens.
#   scripts/quiet.sh python bench/codec_speed.py
pids=$(pgrep -f "rpncodec train" || true)
resume() { [ -n "$pids" ] && kill -CONT $pids 2>/dev/null; }
trap resume EXIT INT TERM
[ -n "$pids" ] && kill -STOP $pids
"$@"
