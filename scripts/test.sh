#!/usr/bin/env bash
# The test suite on a fresh machine: set up, lint and format check (ruff, config in pyproject.toml),
# then pytest (extra arguments go to pytest). A lint error fails here, in seconds, before the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_WAIT_POLICY=PASSIVE
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
