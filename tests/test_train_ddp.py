"""``torchrun --nproc_per_node=2`` trains on CPU (gloo); its checkpoint loads in one process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from jarvl.inference import Predictor

pytestmark = pytest.mark.slow


def test_torchrun_two_processes(tmp_path):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29517",
        "-m",
        "jarvl.cli.main",
        "train",
        "--out",
        str(run),
        "--model",
        "tiny",
        "--fusion",
        "jar",
        "--train",
        "synthetic:vqa:train?n=2000",
        "--val",
        "synthetic:vqa:val?n=40",
        "--max-steps",
        "6",
        "--batch-size",
        "16",
        "--quiet",
        "--set",
        "data.num_workers=0",
        "--set",
        "run.threads=1",
        "--set",
        "run.eval_samples=40",
        "--set",
        "data.tokenizer_samples=500",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    predictor = Predictor(run)  # one process, no process group
    image = torch.randint(0, 255, (64, 64, 3), dtype=torch.uint8).numpy()
    assert isinstance(predictor.answer(image, "how many red objects are there?"), str)
    summary = (run / "summary.json").read_text()
    assert '"samples": 96' in summary  # 6 steps x 16 samples over both ranks
    assert (run / ".lock").read_text().startswith("PID ")  # rank 0 held the run directory's lock
