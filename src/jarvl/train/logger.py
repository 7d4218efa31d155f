"""Metrics logging: a JSONL file (one record per event) and TensorBoard scalars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jarvl.config import flatten_dict


class MetricsLogger:
    """Appends records to ``RUN_DIR/metrics.jsonl`` and mirrors numbers to TensorBoard (``RUN_DIR/tb``)."""

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.jsonl"
        self.writer = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(Path(run_dir) / "tb"))
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


def read_metrics(run_dir: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """Records of ``RUN_DIR/metrics.jsonl`` (of one ``kind`` when given)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if kind is None or r["kind"] == kind]
