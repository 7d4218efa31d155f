"""Each benchmark script runs in its --quick mode, so the scripts never rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["train_speed.py", "gate_init.py", "flops.py", "recipe_budget.py", "adaptive_sampling.py"])
def test_quick_mode(script, tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(tmp_path.glob("*.md")) and list(tmp_path.glob("*.json"))
