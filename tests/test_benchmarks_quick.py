"""The one benchmark script that is not a config (gpu_fusions.py, a standalone script for a GPU machine)
runs in its --quick mode, so it never rots. The configs' quick runs are in test_benchmarks.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def _python(*args, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` from the checkout; fail the test with the tail of stderr on a non-zero exit."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_gpu_fusions_quick_imports_only_what_the_gpu_machine_has(tmp_path):
    """gpu_fusions.py --quick measures all five fusions and loads nothing beyond torch, numpy, safetensors, pyyaml."""
    code = (
        "import sys; sys.path.insert(0, 'benchmarks'); import gpu_fusions; "
        f"gpu_fusions.main(['--quick', '--out', {str(tmp_path)!r}]); "
        "extra = {'webdataset', 'hypothesis', 'pycocoevalcap', 'pytest', 'huggingface_hub', 'braceexpand'}; "
        "print(sorted(extra & {m.split('.')[0] for m in sys.modules}))"
    )
    proc = _python("-c", code)
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    data = json.loads((tmp_path / "gpu_fusions.json").read_text())
    assert [r["fusion"] for r in data["records"]] == ["concat", "cross_attention", "perceiver", "cotokenization", "jar"]
    assert all(r["status"] == "ok" and r["train_samples_per_s"] > 0 and "1" in r["generate"] for r in data["records"])
    assert (tmp_path / "gpu_fusions.md").is_file()
