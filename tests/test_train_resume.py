"""A killed run resumes exactly: SIGKILL mid-run and during a checkpoint write, then bitwise-equal weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

ARGS = [
    "--model",
    "tiny",
    "--fusion",
    "jar",
    "--train",
    "synthetic:vqa:train?n=3000",
    "--max-steps",
    "16",
    "--batch-size",
    "16",
    "--quiet",
    "--set",
    "data.val=",
    "--set",
    "data.num_workers=0",
    "--set",
    "run.checkpoint_every=4",
    "--set",
    "run.eval_every=0",
    "--set",
    "run.threads=1",
    "--set",
    "optim.warmup_steps=4",
    "--set",
    "data.tokenizer_samples=500",
    "--set",
    "run.log_every=2",
]


def train(out: Path, *extra: str, env: dict | None = None, wait: bool = True):
    cmd = [sys.executable, "-m", "jarvl.cli.main", "train", "--out", str(out), *ARGS, *extra]
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        out_, err = proc.communicate(timeout=600)
        return proc.returncode, out_, err
    return proc


def final_weights(run: Path) -> dict:
    pointer = json.loads((run / "checkpoints" / "last.json").read_text())
    assert pointer["step"] == 16
    return load_file(str(run / "checkpoints" / pointer["path"] / "model.safetensors"))


def test_sigkill_mid_run_and_during_checkpoint_then_resume_is_bitwise_exact(tmp_path):
    code, _, err = train(tmp_path / "a")
    assert code == 0, err
    reference = final_weights(tmp_path / "a")

    run = tmp_path / "b"
    proc = train(run, wait=False)
    pointer = run / "checkpoints" / "last.json"
    deadline = time.time() + 300
    while not pointer.exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # somewhere after the step-4 checkpoint
    proc.wait()
    assert json.loads(pointer.read_text())["step"] >= 4

    # Resume, and die in the middle of writing the next checkpoint.
    code, _, _ = train(run, "--resume", env={"JARVL_FAULT": "checkpoint:1"})
    assert code == -signal.SIGKILL
    before = json.loads(pointer.read_text())
    assert (run / "checkpoints" / before["path"] / "model.safetensors").is_file()  # previous one intact

    code, _, err = train(run, "--resume")
    assert code == 0, err
    resumed = final_weights(run)
    assert resumed.keys() == reference.keys()
    for k in reference:
        assert (resumed[k] == reference[k]).all(), k  # bitwise: same data, moments, schedule
    # One history: the rows the killed runs logged past their checkpoints were dropped on resume.
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    reference_rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [r["step"] for r in reference_rows if r["kind"] == "train"]
    assert [r["kind"] for r in rows] == [r["kind"] for r in reference_rows]
    assert [r["loss"] for r in rows if r["kind"] == "train"] == [r["loss"] for r in reference_rows if r["kind"] == "train"]
