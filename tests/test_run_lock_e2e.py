"""Two real ``jarvl train`` processes into one ``--out``: the second refuses at once naming the first's
PID; after the first is killed its lock is stale; an existing run is refused without --resume."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from jarvl.train.rundir import lock_holder

pytestmark = pytest.mark.slow

ARGS = [
    "--model",
    "tiny",
    "--fusion",
    "jar",
    "--train",
    "synthetic:vqa:train?n=500",
    "--batch-size",
    "4",
    "--quiet",
    "--set",
    "data.val=",
    "--set",
    "data.num_workers=0",
    "--set",
    "run.threads=1",
    "--set",
    "run.eval_every=0",
    "--set",
    "data.tokenizer_samples=200",
    "--set",
    "run.log_every=1",
]


def command(out, *extra: str) -> list[str]:
    return [sys.executable, "-m", "jarvl.cli.main", "train", "--out", str(out), *ARGS, *extra]


def jarvl_train(out, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(out, *extra), capture_output=True, text=True, timeout=300)


def train_steps(run) -> list[int]:
    """Steps of the train rows of ``run/metrics.jsonl`` (a last line cut short by a kill is ignored)."""
    steps = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row["kind"] == "train":
            steps.append(row["step"])
    return steps


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def in_process(out, *extra: str) -> tuple[int, str]:
    """(exit status, stderr) of the same ``jarvl train`` run in this process (a third process, and quick)."""
    from jarvl.cli.main import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(command(out, *extra)[3:])
    return code, err.getvalue()


def test_second_training_into_the_same_out_refuses_naming_the_first(tmp_path):
    run = tmp_path / "run"
    first = subprocess.Popen(
        command(run, "--max-steps", "100000", "--set", "run.checkpoint_every=0"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.nice(19),
    )  # it only has to hold the lock: let the others have the CPU
    try:
        deadline = time.time() + 120
        while not lock_holder(run).startswith(f"PID {first.pid} "):  # the first run has claimed the directory
            assert first.poll() is None and time.time() < deadline, first.stderr.read() if first.poll() is not None else "timeout"
            time.sleep(0.1)
        second = jarvl_train(run, "--max-steps", "2")
        assert f"in use by another training (PID {first.pid} on" in one_line_error(second)
        code, stderr = in_process(run, "--max-steps", "2", "--resume")  # --resume does not get past the lock either
        assert code == 2 and f"PID {first.pid}" in stderr and len(stderr.strip().splitlines()) == 1
        assert first.poll() is None  # the first run goes on, undisturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    if (run / "metrics.jsonl").exists():
        steps = train_steps(run)
        assert steps == list(range(1, len(steps) + 1))  # one run's history only

    # The killed run's lock is stale: a resume gets it (no checkpoint yet: it says so and starts afresh).
    code, stderr = in_process(run, "--max-steps", "2", "--resume")
    assert code == 0 and "no checkpoint yet" in stderr, stderr
    assert train_steps(run) == [1, 2]
    # Now an existing run: without --resume (or --overwrite) refused, nothing touched.
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    code, stderr = in_process(run, "--max-steps", "3")
    assert code == 2 and "already holds a run" in stderr and "--overwrite" in stderr
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_resume_into_a_missing_directory_is_a_clear_error(tmp_path):
    code, stderr = in_process(tmp_path / "nope", "--max-steps", "2", "--resume")
    assert code == 2 and "does not exist" in stderr and "drop --resume" in stderr
    assert list(tmp_path.iterdir()) == []
