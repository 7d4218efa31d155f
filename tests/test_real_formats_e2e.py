"""End to end on the public layouts: train on VQA v2 files, evaluate into official results files, score them.

``jarvl eval``'s official metrics must equal ``jarvl score`` on the file it wrote, to the last bit.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fixtures import build_gqa, build_snli_ve, build_vqa2, vqa_image_path

pytestmark = pytest.mark.slow


def jarvl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jarvl.cli.main", *args], capture_output=True, text=True, timeout=300)


def ok(*args: str) -> subprocess.CompletedProcess:
    out = jarvl(*args)
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny model trained 12 steps on synthetic VQA written in the VQA v2 layout."""
    root = tmp_path_factory.mktemp("vqa2")
    ok("data", "synth", "--format", "vqa2", "--split", "train", "--n", "200", "--out", str(root / "train"))
    ok("data", "synth", "--format", "vqa2", "--split", "val", "--n", "40", "--seed", "1", "--out", str(root / "val"))
    ok(
        "train",
        "--out",
        str(root / "run"),
        "--model",
        "tiny",
        "--train",
        f"vqa2:{root / 'train'}:train2014",
        "--val",
        f"vqa2:{root / 'val'}:val2014",
        "--max-steps",
        "12",
        "--batch-size",
        "16",
        "--quiet",
        "--set",
        "data.num_workers=0",
        "--set",
        "data.tokenizer_samples=200",
        "--set",
        "run.eval_samples=40",
        # No warm-up and a high rate: 12 steps learn a majority answer (6 sometimes predict only EOS), so the
        # accuracies compared are not all 0.
        "--lr",
        "3e-3",
        "--set",
        "optim.warmup_steps=1",
    )
    summary = json.loads((root / "run" / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["samples"] == 192 and summary["skips"]["skipped"] == 0
    assert summary["final"]["n"] == 40
    return root


def eval_and_score(run, spec: str, results) -> tuple[dict, dict, list]:
    report = json.loads(ok("eval", "--checkpoint", str(run / "run"), "--data", spec, "--results", str(results), "--json").stdout)
    scored = json.loads(ok("score", "--data", spec, "--predictions", str(results), "--json").stdout)
    return report, scored, json.loads(results.read_text())


def test_vqa2_results_file_and_accuracy_match_score(run, tmp_path):
    spec = f"vqa2:{run / 'val'}:val2014"
    report, scored, rows = eval_and_score(run, spec, tmp_path / "r.json")
    questions = json.loads((run / "val" / "v2_OpenEnded_mscoco_val2014_questions.json").read_text())["questions"]
    assert all(set(r) == {"question_id", "answer"} and isinstance(r["answer"], str) for r in rows)
    assert [r["question_id"] for r in rows] == [q["question_id"] for q in questions]
    official = report["official"]
    assert (official["format"], official["n"], official["unanswered"]) == ("vqa2", 40, 0)
    assert official["accuracy"] == scored["accuracy"] > 0
    assert official["per_answer_type"] == scored["per_answer_type"]
    assert official["per_question_type"] == scored["per_question_type"]
    assert report["n"] == 40 and report["skips"]["skipped"] == 0


def test_vqa2_missing_image_is_counted_and_answered_empty(run, tmp_path):
    # A record whose image is gone is skipped (counted by reason), yet the results file stays
    # complete, as the VQA server requires: its answer is empty and scored wrong by both commands.
    qids = build_vqa2(tmp_path / "data")
    vqa_image_path(tmp_path / "data", "val2014", 101).unlink()
    spec = f"vqa2:{tmp_path / 'data'}:val2014"
    report, scored, rows = eval_and_score(run, spec, tmp_path / "r.json")
    assert [r["question_id"] for r in rows] == qids and rows[1]["answer"] == ""
    assert report["skips"]["by_reason"] == {"missing_image": 1} and report["n"] == 3
    assert "COCO_val2014_000000000101.jpg" in report["skips"]["examples"]["missing_image"][0]
    assert (report["official"]["n"], report["official"]["unanswered"]) == (4, 1)
    assert report["official"]["accuracy"] == scored["accuracy"]
    text = ok("eval", "--checkpoint", str(run / "run"), "--data", spec).stdout
    assert "missing_image 1" in text and "official vqa2 metrics" in text and "unanswered: 1" in text


def test_gqa_results_file_and_open_binary_match_score(run, tmp_path):
    build_gqa(tmp_path / "gqa")
    report, scored, rows = eval_and_score(run, f"gqa:{tmp_path / 'gqa'}:val_balanced", tmp_path / "g.json")
    assert [set(r) for r in rows] == [{"questionId", "prediction"}] * 4
    assert [r["questionId"] for r in rows] == ["201", "202", "203", "204"]
    assert {k: report["official"][k] for k in ("accuracy", "open", "binary")} == {k: scored[k] for k in ("accuracy", "open", "binary")}


def test_snli_ve_results_file_and_accuracy_match_score(run, tmp_path):
    build_snli_ve(tmp_path / "ve")
    report, scored, rows = eval_and_score(run, f"snli-ve:{tmp_path / 've'}:dev", tmp_path / "v.json")
    assert [set(r) for r in rows] == [{"pairID", "prediction"}] * 3
    assert [r["pairID"] for r in rows] == ["100.jpg#0r1", "100.jpg#1r1", "200.jpg#2r1"]
    assert report["official"]["accuracy"] == scored["accuracy"]


def test_test_split_writes_results_without_metrics(run, tmp_path):
    build_vqa2(tmp_path / "test", split="test2015", annotated=False)
    report = json.loads(
        ok(
            "eval",
            "--checkpoint",
            str(run / "run"),
            "--data",
            f"vqa2:{tmp_path / 'test'}:test2015",
            "--results",
            str(tmp_path / "submit.json"),
            "--json",
        ).stdout
    )
    assert report["official"] == {"format": "vqa2", "results": str(tmp_path / "submit.json"), "n": 4, "unanswered": 0}
    assert len(json.loads((tmp_path / "submit.json").read_text())) == 4
