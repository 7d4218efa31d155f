"""The data mixture inside the trainer: per-step dataset choice, resume continues the same schedule."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from jarvl.train.config import build_experiment
from jarvl.train.trainer import Trainer

pytestmark = pytest.mark.slow

MIXTURE = {
    "data": {
        "mixture": {"cap": "synthetic:caption:train?n=400", "vqa": "synthetic:vqa:train?n=400"},
        "sampling": {"strategy": "learning_progress", "min_weight": 0.05},
        "loss_weights": {"cap": 0.5},
        "val": [],
        "batch_size": 8,
        "num_workers": 0,
        "tokenizer_samples": 200,
    },
    "model": {"preset": "tiny", "decoder": {"max_len": 24}},
    "run": {"max_steps": 10, "checkpoint_every": 4, "eval_every": 0, "progress": False, "log_every": 1, "threads": 1},
}


class Interrupt(Exception):
    pass


def _choices(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["weights"]) for r in rows if r["kind"] == "mixture"]


def _weights(run):
    pointer = json.loads((run / "checkpoints" / "last.json").read_text())
    return load_file(str(run / "checkpoints" / pointer["path"] / "model.safetensors"))


def test_mixture_resume_continues_the_same_schedule(tmp_path):
    a = Trainer(build_experiment(MIXTURE), tmp_path / "a")
    summary = a.fit()
    assert sum(summary["consumed"].values()) == 10 and set(summary["consumed"]) == {"cap", "vqa"}
    assert abs(sum(summary["mixture_weights"].values()) - 1) < 1e-9
    assert (tmp_path / "a" / "mixture_weights.png").is_file()
    # each mixture row carries the mean loss of the datasets drawn since the row before
    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    drawn = set()
    for r in (r for r in rows if r["kind"] == "mixture"):
        assert set(r["loss"]) <= {"cap", "vqa"} and all(0 < v < 50 for v in r["loss"].values())
        drawn |= set(r["loss"])
    assert drawn == {"cap", "vqa"}

    calls = {"n": 0}

    def stop_at_seven(batch):
        calls["n"] += 1
        if calls["n"] == 7:
            raise Interrupt  # dies after the step-4 checkpoint, mid-run

    with pytest.raises(Interrupt):
        Trainer(build_experiment(MIXTURE), tmp_path / "b", batch_hooks=[stop_at_seven]).fit()
    resumed = Trainer(build_experiment(MIXTURE), tmp_path / "b", resume=True)
    assert resumed.state["step"] == 4
    summary_b = resumed.fit()
    assert summary_b["consumed"] == summary["consumed"]
    # weights logged after the resume point match the uninterrupted run's, step for step
    after = {s: w for s, w in _choices(tmp_path / "b") if s > 4}
    assert after == {s: w for s, w in _choices(tmp_path / "a") if s > 4}
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all((wa[k] == wb[k]).all() for k in wa)


def test_unknown_loss_weight_name_is_an_error(tmp_path):
    cfg = build_experiment({**MIXTURE, "data": {**MIXTURE["data"], "loss_weights": {"captions": 2.0}}})
    with pytest.raises(ValueError, match="captions"):
        Trainer(cfg, tmp_path / "x")
