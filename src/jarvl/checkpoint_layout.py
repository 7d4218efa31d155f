"""Where a run directory keeps its checkpoints, and finding one (``jarvl.train.checkpoint`` writes them).

``RUN_DIR/checkpoints/step-000500/`` holds ``model.safetensors`` + ``config.json`` (loadable by
``jarvl.models.load_model``) and ``tokenizer.json``; the pointers ``last.json`` and ``best.json``
name the folder of the last and the best checkpoint. Readers (``jarvl.inference``, ``--init-from``,
``--resume``) need only this module, never the trainer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

CKPT_DIR = "checkpoints"
TOKENIZER_FILE = "tokenizer.json"


def checkpoint_path(run_or_ckpt: str | os.PathLike, which: str = "best") -> Path:
    """The checkpoint folder for a run dir (``which`` = best, falling back to last) or a checkpoint folder."""
    path = Path(run_or_ckpt)
    if (path / "model.safetensors").is_file():
        return path
    root = path / CKPT_DIR
    for name in (which, "last"):
        pointer = root / f"{name}.json"
        if pointer.is_file():
            return root / json.loads(pointer.read_text())["path"]
    raise FileNotFoundError(f"{path}: no checkpoint found (expected {root}/last.json or a folder with model.safetensors)")


def load_tokenizer(ckpt: str | os.PathLike):
    """The tokenizer saved beside a checkpoint's weights."""
    from jarvl.data.tokenizer import Tokenizer

    return Tokenizer.load(Path(ckpt) / TOKENIZER_FILE)
