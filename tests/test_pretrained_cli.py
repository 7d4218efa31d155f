"""End to end: the real CLI trains on pretrained towers (BERT text, CLIP vision checkpoints, tiny ones so it
stays quick; tests/test_minilm.py trains on the real MiniLM), is killed mid-checkpoint and resumes bitwise
exactly (dropout included), then evaluates and predicts, with the backbone directories gone."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys

import pytest
from safetensors.torch import load_file

pytest.importorskip("transformers")

import hf_towers  # noqa: E402

pytestmark = pytest.mark.slow


def jarvl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "jarvl.cli.main", *args], capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )


def train(out, vision, text, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return jarvl(
        "train",
        "--out",
        str(out),
        "--model",
        "tiny",
        "--fusion",
        "jar",
        "--train",
        "synthetic:vqa:train?n=200",
        "--val",
        "synthetic:vqa:val?n=16",
        "--max-steps",
        "6",
        "--batch-size",
        "8",
        "--quiet",
        "--set",
        f"model.text.backbone={text}",
        "--set",
        f"model.vision.backbone={vision}",
        "--set",
        "model.vision.freeze=last_1",
        "--set",
        "data.num_workers=0",
        "--set",
        "run.eval_samples=16",
        "--set",
        "run.checkpoint_every=3",
        "--set",
        "run.eval_every=0",
        "--set",
        "optim.warmup_steps=2",
        *extra,
        env=env,
    )


def final_weights(run) -> dict:
    pointer = json.loads((run / "checkpoints" / "last.json").read_text())
    assert pointer["step"] == 6
    return load_file(str(run / "checkpoints" / pointer["path"] / "model.safetensors"))


def test_train_resume_eval_predict_on_pretrained_towers(tmp_path):
    vision, text = hf_towers.save_clip(tmp_path / "clip"), hf_towers.save_bert(tmp_path / "bert")
    done = train(tmp_path / "a", vision, text)
    assert done.returncode == 0, done.stderr
    reference = final_weights(tmp_path / "a")

    killed = train(tmp_path / "b", vision, text, env={"JARVL_FAULT": "checkpoint:2"})  # dies writing the step-6 checkpoint
    assert killed.returncode == -signal.SIGKILL
    assert json.loads((tmp_path / "b" / "checkpoints" / "last.json").read_text())["step"] == 3

    shutil.rmtree(vision)  # the run directory is all that resume, eval and predict need
    shutil.rmtree(text)
    resumed = train(tmp_path / "b", vision, text, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    weights = final_weights(tmp_path / "b")
    assert weights.keys() == reference.keys()
    assert all((weights[k] == reference[k]).all() for k in reference)  # bitwise, BERT's dropout included

    report = jarvl("eval", "--checkpoint", str(tmp_path / "b"), "--data", "synthetic:vqa:test?n=12", "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["n"] == 12

    from PIL import Image

    Image.new("RGB", (40, 30), (200, 30, 30)).save(tmp_path / "red.png")
    answer = jarvl("predict", "--checkpoint", str(tmp_path / "b"), "--image", str(tmp_path / "red.png"), "--question", "what color is it?")
    assert answer.returncode == 0, answer.stderr


def test_a_missing_backbone_fails_at_start_in_one_line(tmp_path):
    out = train(tmp_path / "run", str(tmp_path / "no-such-vit"), str(tmp_path / "no-such-bert"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        f"jarvl train: error: model.vision.backbone={tmp_path / 'no-such-vit'}: no such directory (backbones are read from a "
        "local Hugging Face directory with config.json and model.safetensors; nothing is downloaded)"
    ]


def test_torchrun_two_processes_on_pretrained_towers(tmp_path):
    """DDP (gloo, 2 ranks) over pretrained towers: no parameter left without a gradient, a partly frozen tower."""
    import os

    vision, text = hf_towers.save_siglip_vision(tmp_path / "siglip"), hf_towers.save_t5(tmp_path / "t5")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29527",
        "-m",
        "jarvl.cli.main",
        "train",
        "--out",
        str(tmp_path / "ddp"),
        "--model",
        "tiny",
        "--fusion",
        "perceiver",
        "--train",
        "synthetic:vqa:train?n=200",
        "--val",
        "synthetic:vqa:val?n=8",
        "--max-steps",
        "3",
        "--batch-size",
        "8",
        "--quiet",
        "--set",
        f"model.vision.backbone={vision}",
        "--set",
        f"model.text.backbone={text}",
        "--set",
        "model.text.freeze=last_1",
        "--set",
        "data.num_workers=0",
        "--set",
        "run.threads=1",
        "--set",
        "run.eval_samples=8",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"samples": 24' in (tmp_path / "ddp" / "summary.json").read_text()
