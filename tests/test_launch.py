"""``fit_on_ranks``: one run on several local CPU processes from Python (what ``jarvl demo`` trains with)."""

from __future__ import annotations

import pytest

from jarvl.evaluation.predict import AnswerTally
from jarvl.train.config import shipped_recipe
from jarvl.train.launch import auto_ranks, fit_on_ranks
from jarvl.train.rundir import RunDirError


@pytest.mark.parametrize(
    ("batch", "cores", "want"),
    [(64, 2, 2), (64, 1, 1), (64, 16, 2), (32, 2, 1), (128, 16, 4), (96, 4, 3), (16, 8, 1), (100, 4, 2)],
)
def test_auto_ranks_one_per_core_while_each_keeps_32_and_divides_the_batch(batch, cores, want):
    assert auto_ranks(batch, cores) == want
    assert batch % want == 0


def _tiny(steps: int = 4):
    cfg = shipped_recipe(
        "demo",
        [
            "data.batch_size=8",
            "data.num_workers=0",
            "data.tokenizer_samples=200",
            f"run.max_steps={steps}",
            "run.max_minutes=0",
            "run.eval_every_minutes=0",
            "run.eval_samples=20",
            "run.threads=1",
            "run.progress=false",
        ],
    )
    cfg.data.train = ["synthetic:vqa:train?n=400&min_objects=3&max_objects=6"]
    cfg.data.val = ["synthetic:vqa:val?n=20&min_objects=3&max_objects=6"]
    return cfg


def test_ranks_split_the_batch_and_hand_back_every_ranks_hooks(tmp_path):
    summary, hooks = fit_on_ranks(_tiny(), tmp_path / "run", 2, batch_hooks=[AnswerTally()])
    assert summary["steps"] == 4 and summary["samples"] == 32  # the global batch of 8, over both ranks
    assert summary["final"] is not None  # rank 0 evaluated
    counted = [sum(sum(c.values()) for c in rank[0].by_prompt.values()) for rank in hooks]
    assert counted == [16, 16]  # each rank saw its half of every batch
    merged = AnswerTally()
    for rank in hooks:
        merged.merge(rank[0])
    assert sum(sum(c.values()) for c in merged.by_prompt.values()) == 32
    assert (tmp_path / "run" / "summary.json").is_file()


def test_a_ranks_error_reaches_the_caller_before_any_training(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("{}\n")  # someone's earlier run
    with pytest.raises(RunDirError, match="already holds a run"):
        fit_on_ranks(_tiny(), run, 2)
    assert (run / "metrics.jsonl").read_text() == "{}\n"  # nothing of theirs was touched


def test_ranks_must_divide_the_batch(tmp_path):
    with pytest.raises(ValueError, match="ranks: 3"):
        fit_on_ranks(_tiny(), tmp_path / "run", 3)
    assert not (tmp_path / "run").exists()
