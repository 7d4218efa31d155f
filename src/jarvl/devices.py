"""Device names checked once, at the start: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``."""

from __future__ import annotations

import re

DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"


def resolve_device(name: str):
    """The ``torch.device`` for ``name`` (``auto``: CUDA when available, else CPU).

    Raises:
        ValueError: an unknown name, or a device this machine does not have (so a run fails at
            its start with one clear line, not deep inside torch).
    """
    if not re.fullmatch(DEVICE_PATTERN, name):
        raise ValueError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N, mps")
    import torch  # here, so that the argument parser can use DEVICE_PATTERN without importing torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: no CUDA device here (torch.cuda.is_available() is False); use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r}: MPS is not available here; use cpu")
    return device
