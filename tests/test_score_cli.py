"""``jarvl score`` on benchmark-layout fixtures gives the hand-computed official numbers."""

from __future__ import annotations

import json

import pytest
from fixtures import (
    GQA_ITEMS,
    KARPATHY,
    PRED_GQA,
    PRED_VQA,
    SNLI_VE_ITEMS,
    VQA_EXPECTED,
    build_coco_karpathy,
    build_gqa,
    build_snli_ve,
    build_vqa2,
    write,
)

from jarvl.cli.main import main
from jarvl.data.registry import open_dataset
from jarvl.evaluation.official import score_predictions, write_predictions


def _score(capsys, spec, predictions, *extra) -> tuple[int, str, str]:
    code = main(["score", "--data", spec, "--predictions", str(predictions), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_vqa2_accuracy_by_hand(tmp_path, capsys):
    qids = build_vqa2(tmp_path / "vqa")
    preds = write(tmp_path / "vqa.json", json.dumps([{"question_id": q, "answer": a} for q, a in zip(qids, PRED_VQA)]).encode())
    code, out, _ = _score(capsys, f"vqa2:{tmp_path / 'vqa'}:val2014", preds, "--json")
    result = json.loads(out)
    assert code == 0 and result["n"] == 4 and result["skipped"] == 0
    assert result["accuracy"] == pytest.approx(VQA_EXPECTED["accuracy"])
    assert result["per_answer_type"] == pytest.approx(VQA_EXPECTED["per_answer_type"])
    assert result["per_question_type"]["how many"] == pytest.approx(0.6)
    code, out, _ = _score(capsys, f"vqa2:{tmp_path / 'vqa'}:val2014", preds)  # the rich table
    assert code == 0 and "62.50" in out and "per_answer_type/number" in out


def test_gqa_accuracy_by_hand(tmp_path, capsys):
    build_gqa(tmp_path / "gqa")
    preds = write(tmp_path / "gqa.json", json.dumps([{"questionId": q, "prediction": p} for q, p in PRED_GQA.items()]).encode())
    code, out, _ = _score(capsys, f"gqa:{tmp_path / 'gqa'}:val_balanced", preds, "--json")
    result = json.loads(out)
    assert code == 0 and result["n"] == len(GQA_ITEMS)
    assert (result["accuracy"], result["open"], result["binary"]) == pytest.approx((0.75, 0.5, 1.0))


def test_written_predictions_round_trip(tmp_path):
    """Evaluators write results files from samples + predicted strings; scoring reads them back."""
    build_snli_ve(tmp_path / "ve")
    spec = f"snli-ve:{tmp_path / 've'}:dev"
    ds = open_dataset(spec)
    samples = [ds.record(i) for i in range(len(ds))]
    path = write_predictions("snli-ve", samples, ["entailment", "neutral", "neutral"], tmp_path / "ve.json")
    assert json.loads(path.read_text())[0] == {"pairID": "100.jpg#0r1", "prediction": "entailment"}
    result = score_predictions(spec, path)
    assert result["accuracy"] == pytest.approx(2 / 3) and result["contradiction"] == 0.0
    assert len(SNLI_VE_ITEMS) == result["n"]

    build_coco_karpathy(tmp_path / "coco")
    spec = f"coco-captions:{tmp_path / 'coco'}:train?per_caption=1"
    ds = open_dataset(spec)
    samples = [ds.record(i) for i in range(len(ds))]
    path = write_predictions("coco-captions", samples, [s.target for s in samples], tmp_path / "caps.json")
    assert [r["image_id"] for r in json.loads(path.read_text())] == [1, 2]  # one caption per image
    result = score_predictions(spec, path)
    assert result["n"] == 2 and result["BLEU-1"] == pytest.approx(1.0) and result["CIDEr-D"] >= 0
    assert KARPATHY[0][2][0] == samples[0].target


@pytest.mark.parametrize(
    "content, message",
    [
        (b'[{"question_id": 100001, "answer": "yes"}', "vqa.json: not valid JSON at line 1"),
        (b'{"question_id": 1}', "vqa.json: expected a JSON array"),
        (b'[{"questionId": 1, "answer": "yes"}]', "vqa.json: entry 0 is"),
        (b'[{"question_id": 100001, "answer": "yes"}]', "vqa.json: no prediction for 3 of 4 records"),
        (b'[{"question_id": 100001, "answer": "yes"}, {"question_id": 100001, "answer": "no"}]', "entry 1 repeats question_id 100001"),
    ],
)
def test_bad_predictions_file_names_the_file(tmp_path, capsys, content, message):
    build_vqa2(tmp_path / "vqa")
    code, _, err = _score(capsys, f"vqa2:{tmp_path / 'vqa'}:val2014", write(tmp_path / "vqa.json", content))
    assert code == 2 and message in err


def test_missing_predictions_file_and_unannotated_split(tmp_path, capsys):
    build_vqa2(tmp_path / "vqa", split="test2015", annotated=False)
    code, _, err = _score(capsys, f"vqa2:{tmp_path / 'vqa'}:test2015", tmp_path / "none.json")
    assert code == 2 and "predictions file" in err and "none.json not found" in err
    rows = [{"question_id": q, "answer": "yes"} for q in (100001, 101001, 102001, 103001)]
    code, _, err = _score(capsys, f"vqa2:{tmp_path / 'vqa'}:test2015", write(tmp_path / "p.json", json.dumps(rows).encode()))
    assert code == 2 and "has no answers" in err
