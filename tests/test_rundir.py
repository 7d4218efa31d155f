"""Run directories defend themselves: one lock holder, resume / overwrite / refuse, failed starts leave nothing.

Unit tests of ``jarvl.train.rundir`` and component tests of the Trainer on a tiny synthetic run;
the two-process test of the real CLI is in ``test_run_lock_e2e.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from jarvl.train.config import build_experiment
from jarvl.train.logger import drop_rows_after, read_metrics
from jarvl.train.rundir import LOCK_FILE, RunDir, RunDirBusy, RunDirError
from jarvl.train.trainer import Trainer

TINY = [
    "data.train=synthetic:vqa:train?n=200",
    "data.val=",
    "data.batch_size=4",
    "data.num_workers=0",
    "data.tokenizer_samples=200",
    "run.max_steps=8",
    "run.log_every=1",
    "run.checkpoint_every=4",
    "run.eval_every=0",
    "run.progress=false",
    "run.threads=1",
    "optim.warmup_steps=2",
]


def test_lock_names_its_holder_and_refuses_a_second_claim(tmp_path):
    first = RunDir(tmp_path / "run")
    first.claim()
    assert (tmp_path / "run" / LOCK_FILE).read_text().startswith(f"PID {os.getpid()} ")
    # flock is per open file: a second claim conflicts even inside one process.
    with pytest.raises(RunDirBusy, match=rf"in use by another training \(PID {os.getpid()} on "):
        RunDir(tmp_path / "run").claim()
    assert (tmp_path / "run").is_dir()  # the refused claim removed nothing of the holder's
    first.release()
    RunDir(tmp_path / "run").claim()


def test_a_killed_holders_lock_is_stale(tmp_path):
    script = (
        "import os, signal, sys; from jarvl.train.rundir import RunDir; RunDir(sys.argv[1]).claim(); "
        "print('locked', flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "run")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL and "locked" in proc.stdout
    assert (tmp_path / "run" / LOCK_FILE).is_file()  # left behind by the crash ...
    RunDir(tmp_path / "run").claim()  # ... and no obstacle


def test_existing_run_is_refused_unless_resume_or_overwrite(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    RunDir(run).claim()  # a folder without a run in it is fine (the dropped claim releases its lock)
    (run / "config.json").write_text("{}")
    with pytest.raises(RunDirError, match=r"already holds a run \(config.json\): pass --resume .* --overwrite"):
        RunDir(run).claim()
    RunDir(run, resume=True).claim()
    claim = RunDir(run, overwrite=True)
    claim.claim()
    claim.commit(fresh=True)
    assert sorted(p.name for p in run.iterdir()) == [LOCK_FILE, "notes.txt"]  # the user's file is kept


def test_resume_into_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        RunDir(tmp_path / "nope", resume=True).claim()
    with pytest.raises(RunDirError, match="contradict"):
        RunDir(tmp_path / "x", resume=True, overwrite=True)
    assert list(tmp_path.iterdir()) == []


def test_abandon_removes_only_what_the_claim_made(tmp_path):
    claim = RunDir(tmp_path / "a" / "b" / "run")
    claim.claim()
    claim.abandon()
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    claim = RunDir(tmp_path / "kept")
    claim.claim()
    claim.abandon()
    assert list((tmp_path / "kept").iterdir()) == []


@pytest.mark.parametrize("bad", ["data.train=jsonl:/no/such/index.jsonl", "data.train=synthetic:vqa:train?n=0"])
def test_failed_start_leaves_the_directory_as_it_found_it(tmp_path, bad):
    with pytest.raises((ValueError, FileNotFoundError)):
        Trainer(build_experiment({}, TINY + [bad]), tmp_path / "new")
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises((ValueError, FileNotFoundError)):
        Trainer(build_experiment({}, TINY + [bad]), tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []


def test_trainer_refuses_an_existing_run_and_overwrite_replaces_it(tmp_path):
    run = tmp_path / "run"
    Trainer(build_experiment({}, TINY + ["run.max_steps=2"]), run).fit()
    before = {p.name: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    with pytest.raises(RunDirError, match="already holds a run"):
        Trainer(build_experiment({}, TINY + ["run.max_steps=3"]), run)
    assert {p.name: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == before  # untouched
    Trainer(build_experiment({}, TINY + ["run.max_steps=3"]), run, overwrite=True).fit()
    assert [r["step"] for r in read_metrics(run, "train")] == [1, 2, 3]  # one run's rows, not two
    assert json.loads((run / "checkpoints" / "last.json").read_text())["step"] == 3


def test_resume_without_a_checkpoint_says_so_and_starts_fresh(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"kind": "train", "step": 3, "loss": 9.0}) + "\n")
    Trainer(build_experiment({}, TINY + ["run.max_steps=2"]), run, resume=True).fit()
    assert "no checkpoint yet; starting from step 0" in capsys.readouterr().err
    assert [r["step"] for r in read_metrics(run, "train")] == [1, 2]


class Interrupt(Exception):
    pass


def test_resume_drops_the_rows_logged_after_the_checkpoint(tmp_path):
    run = tmp_path / "run"

    def die_at_seven(batch):
        die_at_seven.calls += 1
        if die_at_seven.calls == 7:
            raise Interrupt  # after the step-4 checkpoint and the rows of steps 5 and 6

    die_at_seven.calls = 0
    with pytest.raises(Interrupt):
        Trainer(build_experiment({}, TINY), run, batch_hooks=[die_at_seven]).fit()
    assert [r["step"] for r in read_metrics(run, "train")] == [1, 2, 3, 4, 5, 6]
    resumed = Trainer(build_experiment({}, TINY), run, resume=True)
    assert resumed.state["step"] == 4
    assert [r["step"] for r in read_metrics(run, "train")] == [1, 2, 3, 4]  # dropped at the start
    resumed.fit()
    assert [r["step"] for r in read_metrics(run, "train")] == list(range(1, 9))


def test_drop_rows_after_handles_a_line_cut_short(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [{"kind": "train", "step": s} for s in (1, 2, 3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"kind": "tra')
    assert drop_rows_after(path, 2) == 2
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]
    assert drop_rows_after(path, 5) == 0
