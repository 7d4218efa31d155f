"""Trainer callbacks (jarvl.train.callbacks): called at each evaluation and checkpoint, with the
evaluation's duration, so a benchmark observes a run without subclassing the Trainer."""

from __future__ import annotations

from jarvl.train.callbacks import EvalTimes, TrainerCallback
from jarvl.train.config import build_experiment
from jarvl.train.trainer import Trainer

TINY = [
    "data.train=synthetic:vqa:train?n=200",
    "data.val=synthetic:vqa:val?n=8",
    "data.batch_size=4",
    "data.num_workers=0",
    "data.tokenizer_samples=200",
    "run.max_steps=6",
    "run.log_every=1",
    "run.checkpoint_every=0",
    "run.eval_every=3",
    "run.eval_samples=8",
    "run.progress=false",
    "run.threads=1",
    "optim.warmup_steps=1",
]


class Recorder(TrainerCallback):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_evaluate(self, trainer, step, report, seconds):
        self.events.append(("evaluate", step, report["n"], seconds))

    def on_checkpoint(self, trainer, step, path):
        self.events.append(("checkpoint", step, path.is_dir()))


def test_callbacks_see_every_evaluation_and_checkpoint(tmp_path):
    rec, times = Recorder(), EvalTimes()
    summary = Trainer(build_experiment({}, TINY), tmp_path / "run", callbacks=[rec, times, object()]).fit()
    assert summary["steps"] == 6
    # Each evaluation checkpoints first, then reports: step 3 and the final one at step 6.
    assert [e[:2] for e in rec.events] == [("checkpoint", 3), ("evaluate", 3), ("checkpoint", 6), ("evaluate", 6)]
    assert all(e[2] for e in rec.events if e[0] == "checkpoint")  # the folder exists when the callback runs
    assert all(e[2] == 8 and e[3] > 0 for e in rec.events if e[0] == "evaluate")
    assert [e["step"] for e in times.log] == [3, 6]
    assert times.seconds == sum(e[3] for e in rec.events if e[0] == "evaluate")
    # Training time before the final evaluation excludes the first one.
    assert 0 < times.log[1]["train_s"] <= summary["elapsed_s"] - times.log[0]["eval_s"] + 1e-9
