"""Metrics logging: a JSONL file (one record per event) and TensorBoard scalars."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jarvl.config import flatten_dict


class MetricsLogger:
    """Appends records to ``RUN_DIR/metrics.jsonl`` and mirrors numbers to TensorBoard (``RUN_DIR/tb``).

    ``resume_step``: a run resumed from the checkpoint of that step. The rows logged after it (by
    the run that was killed) are dropped from ``metrics.jsonl``, and TensorBoard is told to purge
    its events past that step, so both hold one history.
    """

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True, resume_step: int | None = None) -> None:
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.jsonl"
        self.writer = None
        if enabled and resume_step is not None:
            drop_rows_after(self.path, resume_step)
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                purge = None if resume_step is None else resume_step + 1
                self.writer = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=purge)
            except ImportError:  # tensorboard is a dependency, but a broken install must not stop a run
                self.writer = None

    def log(self, kind: str, step: int, values: dict[str, Any]) -> None:
        """Write ``{"kind", "step", **values}``; numeric values also go to TensorBoard as ``kind/key``."""
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"kind": kind, "step": step, **values}) + "\n")
        if self.writer is not None:
            for key, value in flatten_dict(values, sep="/").items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(f"{kind}/{key}", value, step)

    def close(self) -> None:
        """Flush TensorBoard."""
        if self.writer is not None:
            self.writer.close()


def drop_rows_after(path: Path, step: int) -> int:
    """Rewrite the JSONL log ``path`` (atomically) without its rows past ``step``; returns how many went.

    A line cut short by a kill is dropped too.
    """
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            keep = json.loads(line).get("step", 0) <= step
        except (json.JSONDecodeError, AttributeError):
            keep = False
        if keep:
            kept.append(line + "\n")
        else:
            dropped += int(bool(line.strip()))
    if dropped:
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, path)
    return dropped


def read_metrics(run_dir: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """Records of ``RUN_DIR/metrics.jsonl`` (of one ``kind`` when given)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if kind is None or r["kind"] == kind]
