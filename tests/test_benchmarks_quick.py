"""Each benchmark script runs in its --quick mode, so the scripts never rot."""

from __future__ import annotations

import json
import os
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


def _python(*args, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` from the checkout; fail the test with the tail of stderr on a non-zero exit."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_scaling_quick(tmp_path):
    """scaling.py --quick: cost per fusion and size, accuracy runs, both plots, paper-base rows read from a flops.json."""
    rec = {"gflops_fusion": 1.0, "batch": 2}
    flops = {"meta": {"date": "2026-01-01", "grid": {"preset": "paper-base"}}, "tables": {"sizes": [
        {"fusion": f, "size": s, "record": i} for i, (f, s) in enumerate([("concat", 224), ("jar", 224), ("concat", 384), ("jar", 384)])]},
        "records": [{**rec, "id": i, "fusion": f, "image_size": s, "image_tokens": (s // 16) ** 2, "gflops": g, "activation_mb": 10 * g}
                    for i, (f, s, g) in enumerate([("concat", 224, 150.0), ("jar", 224, 80.0), ("concat", 384, 450.0), ("jar", 384, 160.0)])]}  # fmt: skip
    (tmp_path / "flops.json").write_text(json.dumps(flops))
    out = tmp_path / "out"
    _python(ROOT / "benchmarks" / "scaling.py", "--quick", "--out", out, "--flops-json", tmp_path / "flops.json")
    data = json.loads((out / "scaling.json").read_text())
    cost = {(r["fusion"], r["image_tokens"]) for r in data["cost"]["records"]}
    assert cost == {(f, t) for f in ("concat", "jar") for t in (16, 64)}
    runs = data["accuracy"]["runs"]
    assert {(r["fusion"], r["image_size"]) for r in runs} == {(f, s) for f in ("concat", "jar") for s in (48, 64)}
    assert all(0 <= r["test"]["accuracy"] <= 1 and r["samples"] > 0 for r in runs)
    assert [r["gflops"] for r in data["paper_base"]["records"]] == [150.0, 80.0, 450.0, 160.0]
    assert (out / "scaling_cost.png").stat().st_size > 0 and (out / "scaling_accuracy.png").stat().st_size > 0
    assert "paper-base" in (out / "scaling.md").read_text()


def test_attention_maps_quick(tmp_path):
    """attention_maps.py --quick on a 3-step run made by `jarvl train`: a PNG and one map per token and image."""
    run = tmp_path / "run"
    _python("-m", "jarvl.cli.main", "train", "--out", run, "--train", "synthetic:vqa:train?n=200&max_objects=3",
            "--val", "synthetic:vqa:val?n=8&max_objects=3", "--max-steps", 3, "--batch-size", 8, "--quiet",
            "--set", "data.tokenizer_samples=200", "--set", "run.eval_samples=8", "--set", "data.num_workers=0")  # fmt: skip
    _python(ROOT / "benchmarks" / "attention_maps.py", "--checkpoint", run, "--quick", "--out", tmp_path)
    data = json.loads((tmp_path / "attention_maps.json").read_text())
    assert (tmp_path / "attention_maps.png").stat().st_size > 0
    assert len(data["records"]) == 2 and data["spec"].startswith("synthetic:vqa:test?") and "max_objects=3" in data["spec"]
    entropy = data["stats"]["entropy"]
    assert len(entropy) == 2 and len(entropy[0]) == data["num_tokens"] == 16
    assert all(0 < h <= 1.0001 for row in entropy for h in row)


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
