#!/usr/bin/env bash
# The main job on a fresh machine: set up, then run the demo (extra arguments go to `jarvl demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_WAIT_POLICY=PASSIVE
if .venv/bin/jarvl --help | grep -q " demo "; then
  exec .venv/bin/jarvl demo "$@"
fi
# Until the demo lands: the headline profile of the paper's model.
exec .venv/bin/jarvl profile --model paper-base --fusion concat,jar "$@"
