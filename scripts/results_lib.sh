# Sourced by the results scripts (needs PY and OUT set).
# run NAME ARGS...: one rpncodec command, niced; its table to OUT/NAME.txt (written whole, only
# when the command succeeds) and its JSON to OUT/NAME.json.
run() {
  local name=$1; shift
  echo "== $name" >&2
  nice -n 10 "$PY" -m rpncodec "$@" --per-image --json "$OUT/$name.json" > "$OUT/$name.txt.tmp"
  mv "$OUT/$name.txt.tmp" "$OUT/$name.txt"
}
