"""End to end: ``jarvl demo`` on a tiny budget writes every figure it prints."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_demo_quick(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jarvl.cli.main",
            "demo",
            "--minutes",
            "0.15",
            "--test-size",
            "40",
            "--out",
            str(out),
            "--set",
            "run.eval_every_minutes=0.03",
            "--set",
            "run.eval_samples=40",
            "--set",
            "data.tokenizer_samples=500",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "demo_results.json").read_text())
    run = results["runs"]["jar"]
    assert run["test"]["n"] == 40 and set(run["test"]["per_family"]) <= {"attribute", "exists", "count", "spatial", "compare"}
    assert run["curve"], "validation accuracy was never measured during training"
    assert 0 < results["gflops_ratio"] < 1 and results["text_only"]["n"] == 40
    assert (out / "accuracy_vs_time.png").stat().st_size > 0 and (out / "examples.png").stat().st_size > 0
    for word in ("text-only", "overall", "GFLOPs", "examples.png"):
        assert word in proc.stdout
