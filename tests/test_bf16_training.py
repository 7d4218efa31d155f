"""The recipe trains under bf16 autocast (``run.precision=bf16``), the GPU's default, here on the CPU.

A smoke test of the trainer's bf16 path: CPU autocast casts fewer ops than CUDA's, so the dtype mix
that broke match attention on an H200 is pinned in tests/test_match_attention.py, not here."""

from __future__ import annotations

import math

import pytest

from jarvl.train.config import build_experiment
from jarvl.train.logger import read_metrics
from jarvl.train.trainer import Trainer


@pytest.mark.parametrize("fusion", ["jar", "cross_attention", "concat"])
def test_the_demo_recipe_trains_under_bf16_autocast(tmp_path, fusion):
    keys = [
        "data.train=synthetic:vqa:train?n=64&min_objects=3&max_objects=6",
        "data.val=",
        "data.batch_size=8",
        "data.num_workers=0",
        "data.tokenizer_samples=200",
        "run.max_steps=2",
        "run.log_every=1",
        "run.checkpoint_every=0",
        "run.eval_every=0",
        "run.progress=false",
        "run.device=cpu",
        "run.precision=bf16",
        f"model.fusion.name={fusion}",
    ]
    cfg = build_experiment({"recipe": "learns"}, keys)
    Trainer(cfg, tmp_path / "run").fit()
    losses = [r["loss"] for r in read_metrics(tmp_path / "run", "train")]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
