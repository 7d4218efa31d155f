#!/usr/bin/env bash
# The README's screenshot of `jarvl serve` (docs/serve.png): the page answering a synthetic scene.
#   scripts/serve_screenshot.sh               # trains the demo recipe for ~1 minute first (runs/serve-screenshot)
#   scripts/serve_screenshot.sh RUN [OUT]     # uses the run directory or checkpoint RUN instead
# MINUTES and STEPS set the training (default 1 minute, at most 200 steps of 64; the cosine schedule
# spans STEPS). Regenerate it whenever a better model exists.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_WAIT_POLICY=PASSIVE
RUN="${1:-}"
OUT="${2:-docs/serve.png}"
if [ -z "$RUN" ]; then
  RUN=runs/serve-screenshot
  # ~227 samples/s on 2 cores: 200 steps of 64 fill about a minute; the time limit caps it.
  .venv/bin/jarvl train --config src/jarvl/configs/demo.yaml --out "$RUN" --overwrite \
    --max-steps "${STEPS:-200}" --max-minutes "${MINUTES:-1}" --quiet
fi
LOG=$(mktemp)
.venv/bin/jarvl serve --checkpoint "$RUN" --port 0 >"$LOG" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 120); do
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$LOG" | head -1 || true)
  [ -n "$URL" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.5
done
[ -n "$URL" ] || { echo "jarvl serve did not start" >&2; cat "$LOG" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
.venv/bin/python scripts/serve_screenshot.py --url "$URL" --out "$OUT"
