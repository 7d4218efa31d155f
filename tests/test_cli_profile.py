"""End-to-end: the real ``jarvl`` CLI for models and profile."""

from __future__ import annotations

import json
import subprocess
import sys


def jarvl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jarvl.cli.main", *args], capture_output=True, text=True, timeout=300)


def test_help_lists_subcommands():
    out = jarvl("--help")
    assert out.returncode == 0
    for cmd in ("models", "profile"):
        assert cmd in out.stdout


def test_models_lists_presets_and_fusions():
    out = jarvl("models")
    assert out.returncode == 0
    for name in ("tiny", "paper-base", "jar", "concat", "cross_attention", "perceiver", "cotokenization"):
        assert name in out.stdout


def test_profile_json_records():
    out = jarvl("profile", "--model", "tiny", "--fusion", "concat,jar", "--json", "--repeats", "1", "--set", "fusion.num_tokens=8")
    assert out.returncode == 0, out.stderr
    records = json.loads(out.stdout)
    assert [r["fusion"] for r in records] == ["concat", "jar"]
    for r in records:
        for key in ("gflops", "gflops_fusion", "params", "activation_mb", "latency_ms", "achieved_gflop_per_s", "peak_gflop_per_s"):
            assert r[key] > 0
        assert 2 * r["gflops"] < r["train_gflops"] < 4 * r["gflops"]  # backward ~2x forward
        assert r["fraction_of_peak"] == r["achieved_gflop_per_s"] / r["peak_gflop_per_s"]
    assert records[1]["fused_tokens"] == 8 and records[0]["fused_tokens"] == 64 + 24


def test_profile_bad_override_is_a_clear_error():
    out = jarvl("profile", "--model", "tiny", "--set", "fusion.iteration=3")
    assert out.returncode == 2
    assert "did you mean 'fusion.iterations'" in out.stderr and "Traceback" not in out.stderr
