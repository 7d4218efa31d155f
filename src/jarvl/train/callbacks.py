"""Trainer callbacks: observe a run without subclassing the Trainer.

A callback is any object with some of these methods; the Trainer calls each one it has, in the
order the callbacks were given, on the main process (rank 0) only:

- ``on_evaluate(trainer, step, report, seconds)``: after each evaluation (and the checkpoint
  written with it). ``report`` is the exact-match report (``None`` without validation data);
  ``seconds`` is the wall time the evaluation and its checkpoint took, which is inside
  ``trainer.state["elapsed"]``: subtract it to get the training time alone.
- ``on_checkpoint(trainer, step, path)``: after a checkpoint was written; ``path`` is its folder
  (``checkpoint_path(run_dir, "last")``). The run keeps only its last and best checkpoints; a
  callback that needs every one copies it here.

Per-batch hooks are the Trainer's ``batch_hooks`` (plain callables on each training ``Batch``).

    class EvalTimer(TrainerCallback):
        def on_evaluate(self, trainer, step, report, seconds):
            print(step, seconds)

    Trainer(cfg, run_dir, callbacks=[EvalTimer()]).fit()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class TrainerCallback:
    """Base class with every method a no-op; subclass and override the ones you need."""

    def on_evaluate(self, trainer: Any, step: int, report: dict[str, Any] | None, seconds: float) -> None:
        """After an evaluation (and its checkpoint) at ``step``, which took ``seconds``."""

    def on_checkpoint(self, trainer: Any, step: int, path: Path) -> None:
        """After the checkpoint of ``step`` was written to ``path``."""


class EvalTimes(TrainerCallback):
    """Records each evaluation's step, the training seconds before it and its duration, so that
    training time can be reported without the evaluation pauses.

    ``log``: ``[{"step", "train_s", "eval_s"}]``; ``train_s`` excludes earlier evaluations.
    """

    def __init__(self) -> None:
        self.log: list[dict[str, float]] = []

    @property
    def seconds(self) -> float:
        """Total seconds spent in evaluations so far."""
        return sum(e["eval_s"] for e in self.log)

    def on_evaluate(self, trainer: Any, step: int, report: dict[str, Any] | None, seconds: float) -> None:
        train_s = trainer.state["elapsed"] - self.seconds
        self.log.append({"step": step, "train_s": train_s, "eval_s": seconds})
