"""A local Hugging Face checkpoint directory, checked at the boundary: never downloaded, never unpickled.

A backbone directory is what ``save_pretrained`` writes: ``config.json`` and the weights as
``model.safetensors`` (or shards named by ``model.safetensors.index.json``); a vision tower's
also holds ``preprocessor_config.json``, a text tower's ``tokenizer.json``. Anything else (a path
that does not exist, a hub name such as ``bert-base-uncased``, a directory with only a pickled
``pytorch_model.bin``) is a ``BackboneError`` naming the path, raised before any model is built.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONFIG = "config.json"
PREPROCESSOR = "preprocessor_config.json"
TOKENIZER = "tokenizer.json"
SAFETENSORS = ("model.safetensors", "model.safetensors.index.json")
PICKLES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


class BackboneError(ValueError):
    """A backbone directory that cannot be used; the message names it and says what to do."""


def convert_hint(path: Path) -> str:
    """How to turn a pickle-only checkpoint into safetensors, once, on a machine that trusts it."""
    return (
        f'convert it once where you trust the file: python -c "from transformers import AutoModel; '
        f"AutoModel.from_pretrained('{path}').save_pretrained('{path}-safetensors')\" "
        f"(save_pretrained writes model.safetensors), then point the backbone at {path}-safetensors"
    )


def check_dir(path: str, key: str) -> Path:
    """The backbone directory ``path`` (config key ``key``) after checking its files; see the module doc."""
    root = Path(path).expanduser()
    if not root.exists():
        raise BackboneError(
            f"{key}={path}: no such directory (backbones are read from a local Hugging Face directory "
            f"with config.json and model.safetensors; nothing is downloaded)"
        )
    if not root.is_dir():
        raise BackboneError(f"{key}={path}: not a directory (expected a save_pretrained directory with config.json and model.safetensors)")
    if not (root / CONFIG).is_file():
        raise BackboneError(f"{key}={path}: no {CONFIG} here (expected a save_pretrained directory)")
    if not any((root / name).is_file() for name in SAFETENSORS):
        pickles = [name for name in PICKLES if (root / name).is_file()]
        if pickles:
            raise BackboneError(
                f"{key}={path}: only {pickles[0]} here; jarvl loads weights from safetensors only, never "
                f"from pickle files. {convert_hint(root)}"
            )
        raise BackboneError(f"{key}={path}: no model.safetensors here")
    return root


def read_json(path: Path, key: str) -> dict[str, Any]:
    """A JSON object from a backbone directory; BackboneError names the file and the key."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackboneError(f"{key}: {path} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BackboneError(f"{key}: {path} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise BackboneError(f"{key}: {path} must hold a JSON object")
    return data
