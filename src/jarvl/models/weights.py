"""Save and load model weights as safetensors + a JSON config. Never unpickles anything.

A weights directory holds ``model.safetensors`` and ``config.json`` (the model config, a format
version, the SHA-256 of the weights file and the SHA-256 of the model config), both written
atomically (temporary file + rename). The model config is also stored in the weights file's
header, so a ``config.json`` edited by hand is refused naming each key that was changed, rather
than building a different model around the weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from jarvl.blocks.config import ModelConfig
from jarvl.config import ConfigError, from_dict, to_dict

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT_VERSION = 1


class WeightsError(ValueError):
    """Weights that cannot be loaded: damaged, or made for another model (the message says what differs)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def config_text(cfg_dict: dict[str, Any]) -> str:
    """The canonical JSON of a model config (sorted keys, no spaces): what its SHA-256 covers."""
    return json.dumps(cfg_dict, sort_keys=True, separators=(",", ":"))


def config_sha256(cfg_dict: dict[str, Any]) -> str:
    """SHA-256 of :func:`config_text`."""
    return hashlib.sha256(config_text(cfg_dict).encode()).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def save_model(model: torch.nn.Module, directory: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights and config into ``directory`` (created if needed); returns it."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    # safetensors refuses shared storage; contiguous clones keep every tensor independent.
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    tmp = out / f".{WEIGHTS_FILE}.tmp{os.getpid()}"
    cfg = to_dict(model.cfg)
    save_file(tensors, str(tmp), metadata={"format": "jarvl", "version": str(FORMAT_VERSION), "model_config": config_text(cfg)})
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    digest = _sha256(tmp)
    os.replace(tmp, out / WEIGHTS_FILE)
    meta = {"format_version": FORMAT_VERSION, "sha256": digest, "config_sha256": config_sha256(cfg), "model": cfg, **(extra or {})}
    atomic_write_bytes(out / CONFIG_FILE, json.dumps(meta, indent=2).encode())
    return out


def read_config(directory: str | os.PathLike) -> tuple[ModelConfig, dict[str, Any]]:
    """The model config stored in a weights directory, and the whole JSON record."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise WeightsError(f"{path}: no model config here (expected a directory written by jarvl)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        cfg = from_dict(ModelConfig, meta["model"])
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise WeightsError(f"{path}: damaged config file: {err}") from None
    except (KeyError, TypeError, ConfigError) as err:
        raise WeightsError(f"{path}: not a jarvl model config: {err}") from None
    # Older files have no config hash: they load as before.
    if meta.get("config_sha256") and config_sha256(meta["model"]) != meta["config_sha256"]:
        raise WeightsError(
            f"{path}: the model config was changed after saving ({_edited_keys(Path(directory), cfg)}); "
            "restore the file, or save the model again"
        )
    return cfg, meta


def _edited_keys(directory: Path, cfg: ModelConfig) -> str:
    """'fusion.heads: 8 (saved 4)' for each key that differs from the config stored in the weights file."""
    try:
        with safe_open(str(directory / WEIGHTS_FILE), "pt") as handle:
            saved = from_dict(ModelConfig, json.loads((handle.metadata() or {})["model_config"]))
    except (OSError, SafetensorError, KeyError, TypeError, json.JSONDecodeError, ConfigError):
        return "its SHA-256 differs from the one recorded"
    diffs = [d.replace(" != ", " (saved ") + ")" for d in config_differences(cfg, saved)]
    return "; ".join(diffs) or "its SHA-256 differs from the one recorded"


def config_differences(a: ModelConfig, b: ModelConfig) -> list[str]:
    """Dotted keys whose values differ between two model configs, as 'key: a != b'."""

    def flat(d: dict, prefix: str = "") -> dict[str, Any]:
        items: dict[str, Any] = {}
        for k, v in d.items():
            items.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return items

    fa, fb = flat(to_dict(a)), flat(to_dict(b))
    return [f"{k}: {fa.get(k)!r} != {fb.get(k)!r}" for k in sorted(fa.keys() | fb.keys()) if fa.get(k) != fb.get(k)]


def load_state(directory: str | os.PathLike, verify: bool = True) -> dict[str, torch.Tensor]:
    """Read the safetensors weights of a directory, checking the recorded SHA-256 when ``verify``."""
    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise WeightsError(f"{path}: weights file missing")
    _, meta = read_config(directory)
    if verify and meta.get("sha256") and _sha256(path) != meta["sha256"]:
        raise WeightsError(f"{path}: damaged weights file (SHA-256 differs from the one in {CONFIG_FILE})")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise WeightsError(f"{path}: damaged weights file: {err}") from None


def load_weights_into(model: torch.nn.Module, directory: str | os.PathLike) -> None:
    """Load a directory's weights into an existing model; a different architecture is an error naming it."""
    stored_cfg, _ = read_config(directory)
    diffs = [d for d in config_differences(stored_cfg, model.cfg) if not d.startswith("preset:")]
    if diffs:
        raise WeightsError(f"{directory}: weights are for another model: " + "; ".join(diffs))
    state = load_state(directory)
    own = model.state_dict()
    missing, unexpected = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
    shapes = [f"{k}: {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in own.keys() & state.keys() if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [f"missing {missing[:5]}" if missing else "", f"unexpected {unexpected[:5]}" if unexpected else "", "; ".join(shapes[:5])]
        raise WeightsError(f"{directory}: weights do not fit the model: " + "; ".join(p for p in parts if p))
    model.load_state_dict(state)


def load_model(directory: str | os.PathLike, expect: ModelConfig | None = None):
    """Build the model a weights directory describes and load its weights (one call).

    With ``expect``, a directory holding another preset or fusion is an error naming what differs.
    """
    from jarvl.models.model import JARVLModel

    cfg, _ = read_config(directory)
    if expect is not None:
        diffs = config_differences(cfg, expect)
        if diffs:
            raise WeightsError(f"{directory}: weights are for another model: " + "; ".join(diffs))
    model = JARVLModel(cfg)
    load_weights_into(model, directory)
    return model
