"""Run checkpoints: weights, optimiser and trainer state, written atomically, never pickled.

Layout of ``RUN_DIR/checkpoints``: one folder per saved step (``step-000500/``) holding
``model.safetensors`` + ``config.json`` (loadable by ``jarvl.models.load_model``),
``optimizer.safetensors`` + ``state.json`` (optimiser scalars, trainer state, the resolved
experiment config) and ``tokenizer.json``; and the pointers ``last.json`` / ``best.json``.
A folder is complete before a pointer names it and pointers are replaced atomically, so a run
killed at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from jarvl.checkpoint_layout import CKPT_DIR
from jarvl.models.weights import atomic_write_bytes, save_model


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def optimizer_tensors(optimizer: torch.optim.Optimizer, names: dict[int, str]) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimiser's state into named tensors (safetensors) and JSON scalars."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {"param_groups": state["param_groups"], "state": {}}
    for idx, pstate in state["state"].items():
        key = names[idx]
        for k, v in pstate.items():
            if torch.is_tensor(v):
                tensors[f"{key}::{k}"] = v.detach().cpu().contiguous().clone()
            else:
                scalars["state"].setdefault(key, {})[k] = v
    return tensors, scalars


def restore_optimizer(optimizer: torch.optim.Optimizer, names: dict[int, str], tensors: dict[str, torch.Tensor], scalars: dict) -> None:
    """Inverse of :func:`optimizer_tensors`."""
    by_name = {v: k for k, v in names.items()}
    state: dict[int, dict[str, Any]] = {}
    for flat, value in tensors.items():
        key, k = flat.split("::")
        state.setdefault(by_name[key], {})[k] = value
    for key, values in scalars["state"].items():
        state.setdefault(by_name[key], {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": scalars["param_groups"]})


def param_index_names(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[int, str]:
    """Optimiser state index -> parameter name (the order of ``optimizer.param_groups``)."""
    ids = {id(p): n for n, p in model.named_parameters()}
    flat = [p for group in optimizer.param_groups for p in group["params"]]
    return {i: ids[id(p)] for i, p in enumerate(flat)}


def save_checkpoint(run_dir: Path, step: int, model, optimizer, tokenizer, state: dict, *, best: bool = False, keep: int = 1) -> Path:
    """Write checkpoint ``step`` and point ``last`` (and ``best`` when ``best``) at it; prune old ones."""
    root = Path(run_dir) / CKPT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:07d}"
    tmp = root / f".tmp-step-{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(model, tmp)
    names = param_index_names(model, optimizer)
    tensors, scalars = optimizer_tensors(optimizer, names)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    atomic_write_bytes(tmp / "state.json", json.dumps({**state, "optimizer": scalars}, indent=1).encode())
    tokenizer.save(tmp / "tokenizer.json")
    _fault_injection("checkpoint")
    for f in tmp.iterdir():
        with open(f, "rb") as handle:
            os.fsync(handle.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    pointers = ["last"] + (["best"] if best else [])
    for name in pointers:
        atomic_write_bytes(root / f"{name}.json", json.dumps({"step": step, "path": final.name}).encode())
    _prune(root, keep)
    return final


def _fault_injection(where: str) -> None:
    # Test hook: JARVL_FAULT=checkpoint:N kills the process (SIGKILL) in the middle of the N-th
    # checkpoint write, to prove that a crash there leaves the previous checkpoint usable.
    spec = os.environ.get("JARVL_FAULT", "")
    if not spec.startswith(where + ":"):
        return
    count = int(os.environ.get("_JARVL_FAULT_COUNT", "0")) + 1
    os.environ["_JARVL_FAULT_COUNT"] = str(count)
    if count == int(spec.split(":")[1]):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _prune(root: Path, keep: int) -> None:
    referenced = {json.loads((root / f"{p}.json").read_text())["path"] for p in ("last", "best") if (root / f"{p}.json").exists()}
    steps = sorted(d for d in root.iterdir() if d.is_dir() and d.name.startswith("step-"))
    recent = {d.name for d in steps[-keep:]}
    for d in steps:
        if d.name not in referenced and d.name not in recent:
            shutil.rmtree(d, ignore_errors=True)
    for d in root.iterdir():
        if d.name.startswith(".tmp-"):
            shutil.rmtree(d, ignore_errors=True)


def load_training_state(ckpt: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """The ``state.json`` record and optimiser tensors of a checkpoint folder."""
    try:
        state = json.loads((ckpt / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{ckpt / 'state.json'}: cannot read training state: {err}") from None
    return state, load_file(str(ckpt / "optimizer.safetensors"))
