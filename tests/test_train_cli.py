"""End to end: the real CLI trains, evaluates and predicts on the synthetic data; bad input fails clearly."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow


def jarvl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jarvl.cli.main", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    assert jarvl("data", "synth", "--out", str(data), "--n", "300", "--split", "train").returncode == 0
    out = jarvl(
        "train",
        "--out",
        str(root / "run"),
        "--model",
        "tiny",
        "--fusion",
        "jar",
        "--train",
        f"jsonl:{data}",
        "--val",
        "synthetic:vqa:val?n=30",
        "--max-steps",
        "8",
        "--batch-size",
        "16",
        "--quiet",
        "--set",
        "data.num_workers=0",
        "--set",
        "run.eval_samples=30",
    )
    assert out.returncode == 0, out.stderr
    return root


def test_train_writes_run_directory(trained):
    run = trained / "run"
    for name in ("config.json", "metrics.jsonl", "summary.json", "tokenizer.json"):
        assert (run / name).is_file(), name
    assert (run / "tb").is_dir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 8 and summary["samples"] == 128 and summary["final"]["n"] == 30
    kinds = {json.loads(line)["kind"] for line in (run / "metrics.jsonl").read_text().splitlines()}
    assert {"train", "eval", "summary"} <= kinds


def test_eval_json_and_predictions(trained, tmp_path):
    preds = tmp_path / "preds.json"
    out = jarvl("eval", "--checkpoint", str(trained / "run"), "--data", "synthetic:vqa:test?n=40", "--json", "--out", str(preds))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["n"] == 40 and 0.0 <= report["accuracy"] <= 1.0
    assert set(report["per_family"]) <= {"attribute", "exists", "count", "spatial", "compare"}
    rows = json.loads(preds.read_text())
    assert len(rows) == 40 and {"id", "prompt", "target", "prediction"} <= rows[0].keys()


def test_eval_skips_and_counts_bad_text_naming_file_and_line(trained, tmp_path):
    data = trained / "data"
    records = [json.loads(line) for line in (data / "index.jsonl").read_text().splitlines()[:5]]
    for r in records:
        r["image"] = str(data / r["image"])
    records[1]["target"] = ""
    records[2]["prompt"] = "why?" * 12_500
    lines = [json.dumps(r).encode() for r in records]
    lines[3] = lines[3].replace(b'"prompt": "', b'"prompt": "\xff')  # not UTF-8
    (tmp_path / "index.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    out = jarvl("eval", "--checkpoint", str(trained / "run"), "--data", f"jsonl:{tmp_path}", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["n"] == 2 and report["skipped"] == 3
    assert report["skips"]["by_reason"] == {"empty_text": 1, "text_too_long": 1, "not_utf8": 1}
    assert any("index.jsonl, line 4" in e for e in report["skips"]["examples"]["not_utf8"])


def test_predict_prints_an_answer(trained):
    image = trained / "data" / "images" / "0000000.png"
    out = jarvl("predict", "--checkpoint", str(trained / "run"), "--image", str(image), "--question", "how many red objects are there?")
    assert out.returncode == 0, out.stderr
    # 8 steps of training may answer with EOS at once: then the CLI says so rather than print nothing.
    assert out.stdout.strip() != "" or "empty answer" in out.stderr


def test_predict_missing_image_is_a_clear_error(trained):
    out = jarvl("predict", "--checkpoint", str(trained / "run"), "--image", "/nowhere.png", "--question", "what?")
    assert out.returncode == 2 and "/nowhere.png" in out.stderr and "Traceback" not in out.stderr


def test_unknown_yaml_key_is_a_clear_error(tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("optim:\n  lrr: 0.1\n")
    out = jarvl("train", "--config", str(cfg), "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and "did you mean 'optim.lr'" in out.stderr


def test_non_finite_loss_stops_with_step_and_keeps_checkpoint(tmp_path, monkeypatch):
    from jarvl.checkpoint_layout import checkpoint_path
    from jarvl.train.config import build_experiment
    from jarvl.train.trainer import NonFiniteLoss, Trainer

    cfg = build_experiment(
        {},
        [
            "data.train=synthetic:vqa:train?n=400",
            "data.val=",
            "run.max_steps=6",
            "data.batch_size=8",
            "run.checkpoint_every=2",
            "run.eval_every=0",
            "run.progress=false",
            "data.num_workers=0",
            "data.tokenizer_samples=200",
        ],
    )
    trainer = Trainer(cfg, tmp_path / "run")
    real_forward = trainer.model.forward
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        out = real_forward(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(trainer.model, "forward", poisoned)
    with pytest.raises(NonFiniteLoss, match="at step 3"):
        trainer.fit()
    ckpt = checkpoint_path(tmp_path / "run", "last")
    assert ckpt.name == "step-0000002"
    from jarvl.models import load_model

    assert all(torch.isfinite(p).all() for p in load_model(ckpt).parameters())


def test_init_from_starts_from_the_other_runs_weights_and_tokenizer(trained, tmp_path):
    from safetensors.torch import load_file

    from jarvl.checkpoint_layout import checkpoint_path

    out = jarvl(
        "train",
        "--out",
        str(tmp_path / "ft"),
        "--init-from",
        str(trained / "run"),
        "--model",
        "tiny",
        "--fusion",
        "jar",
        "--train",
        "synthetic:vqa:train?n=200",
        "--val",
        "synthetic:vqa:val?n=10",
        "--max-steps",
        "0",
        "--quiet",
        "--set",
        "data.num_workers=0",
        "--set",
        "run.eval_samples=10",
    )
    assert out.returncode == 0, out.stderr
    source = load_file(str(checkpoint_path(trained / "run") / "model.safetensors"))
    started = load_file(str(checkpoint_path(tmp_path / "ft") / "model.safetensors"))
    assert all((source[k] == started[k]).all() for k in source)
    assert (checkpoint_path(tmp_path / "ft") / "tokenizer.json").read_text() == (trained / "run" / "tokenizer.json").read_text()
    other = jarvl(
        "train",
        "--out",
        str(tmp_path / "bad"),
        "--init-from",
        str(trained / "run"),
        "--fusion",
        "concat",
        "--train",
        "synthetic:vqa:train?n=200",
        "--max-steps",
        "0",
        "--quiet",
        "--set",
        "data.num_workers=0",
    )
    assert other.returncode == 2 and "fusion is 'jar'" in other.stderr


def test_dataset_flags_keep_commas_inside_a_spec():
    from jarvl.cli.main import build_parser
    from jarvl.cli.train_cmd import experiment_from_args

    spec = "synthetic:vqa:train?n=100&families=attribute,exists"
    args = build_parser().parse_args(["train", "--out", "x", "--train", spec, "--val", "synthetic:vqa:val?n=9", "--set", "optim.lr=0.01"])
    cfg = experiment_from_args(args)
    assert cfg.data.train == [spec] and cfg.data.val == ["synthetic:vqa:val?n=9"] and cfg.optim.lr == 0.01


def test_run_compile_trains_through_torch_compile_with_the_same_losses(tmp_path, monkeypatch):
    """run.compile=true: the training forward goes through torch.compile (here its graph-capturing 'eager'
    backend, no code generation, so the numbers must match the plain run's); checkpoints stay loadable."""
    from jarvl.checkpoint_layout import checkpoint_path
    from jarvl.models import load_model
    from jarvl.train.config import build_experiment
    from jarvl.train.logger import read_metrics
    from jarvl.train.trainer import Trainer

    compiled = []
    real_compile = torch.compile

    def eager_compile(module, **kwargs):
        compiled.append(module)
        return real_compile(module, backend="eager", **kwargs)

    monkeypatch.setattr(torch, "compile", eager_compile)
    base = [
        "data.train=synthetic:vqa:train?n=200",
        "data.val=",
        "run.max_steps=3",
        "data.batch_size=8",
        "run.log_every=1",
        "run.checkpoint_every=0",
        "run.eval_every=0",
        "run.progress=false",
        "data.num_workers=0",
        "data.tokenizer_samples=200",
    ]
    losses = {}
    for name, extra in (("plain", []), ("compiled", ["run.compile=true"])):
        trainer = Trainer(build_experiment({}, base + extra), tmp_path / name)
        trainer.fit()
        losses[name] = [r["loss"] for r in read_metrics(tmp_path / name, "train")]
    assert len(compiled) == 1 and compiled[0] is trainer.model  # only the second run compiled, and its model
    assert losses["compiled"] == pytest.approx(losses["plain"], rel=1e-5) and len(losses["plain"]) == 3
    load_model(checkpoint_path(tmp_path / "compiled", "last"))  # no '_orig_mod.' prefixes in the weights
