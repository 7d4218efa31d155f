"""Predictions in each benchmark's official results format, and scoring them against a dataset.

Results files (JSON arrays, one object per record), keyed by the id the benchmark uses:

=================  ============================================  ==============================
dataset format     results file                                  scored with
=================  ============================================  ==============================
``vqa2``           ``[{"question_id": int, "answer": str}]``     VQA accuracy (overall, per
                   (the VQA challenge / EvalAI format)           answer type, per question type)
``gqa``            ``[{"questionId": str, "prediction": str}]``  GQA accuracy, open / binary
                   (the GQA challenge format)                    (balanced questions only)
``snli-ve``        ``[{"pairID": str, "prediction": str}]``      3-way accuracy, per gold label
``coco-captions``  ``[{"image_id": int, "caption": str}]``       CIDEr-D, BLEU-1..4 (captions
                   (COCO caption results format)                 PTB-tokenised as COCO does)
anything else      ``[{"id": str, "prediction": str}]``          by task: exact match per family
                   (jsonl, synthetic, wds: ``Sample.id``)        or, for captions, as COCO
=================  ============================================  ==============================

Evaluators hand ``write_predictions`` the samples and the predicted strings; they never pass (or
import) a model. ``score_predictions(spec, file)`` reads a results file and returns the metrics,
as fractions (CIDEr-D on its usual x10 scale: 1.0 is "100" in papers).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jarvl.data.bad_records import BadRecord
from jarvl.data.records import read_json
from jarvl.data.registry import DatasetSpec, open_dataset
from jarvl.data.schema import Sample
from jarvl.evaluation.metrics import (
    cider_d,
    coco_tokenize,
    corpus_bleu,
    exact_match_by_group,
    gqa_accuracy,
    snli_ve_accuracy,
    vqa_evaluate,
)


@dataclass(frozen=True)
class ResultsFormat:
    """One results-file layout: the key naming the record, the key holding the prediction."""

    id_key: str
    pred_key: str
    record_id: Callable[[Sample], Any]


RESULTS: dict[str, ResultsFormat] = {
    "vqa2": ResultsFormat("question_id", "answer", lambda s: s.meta["question_id"]),
    "gqa": ResultsFormat("questionId", "prediction", lambda s: s.id),
    "snli-ve": ResultsFormat("pairID", "prediction", lambda s: s.id),
    "coco-captions": ResultsFormat("image_id", "caption", lambda s: s.meta["image_id"]),
}
GENERIC = ResultsFormat("id", "prediction", lambda s: s.id)


def results_format(dataset_format: str) -> ResultsFormat:
    """The results layout of a dataset format (``GENERIC`` for formats without an official one)."""
    return RESULTS.get(dataset_format, GENERIC)


def write_predictions(dataset_format: str, samples: Iterable[Sample], predictions: Iterable[str], path: str | os.PathLike) -> Path:
    """Write ``predictions`` (parallel to ``samples``) as ``dataset_format``'s results file.

    Caption datasets read one sample per caption keep the first prediction of each image.
    """
    fmt, rows, seen = results_format(dataset_format), [], set()
    for sample, prediction in zip(samples, predictions, strict=True):
        key = fmt.record_id(sample)
        if key not in seen:
            seen.add(key)
            rows.append({fmt.id_key: key, fmt.pred_key: prediction})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(rows), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_predictions(path: str | os.PathLike, fmt: ResultsFormat) -> dict[str, str]:
    """``{str(record id): prediction}`` of a results file; errors name the file and the entry."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"predictions file {path} not found")
    rows = read_json(path)
    expected = f'[{{"{fmt.id_key}": ..., "{fmt.pred_key}": "..."}}, ...]'
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON array {expected}, got a JSON {type(rows).__name__}")
    out: dict[str, str] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or fmt.id_key not in row or not isinstance(row.get(fmt.pred_key), str):
            raise ValueError(f"{path}: entry {i} is {json.dumps(row)[:120]}; expected {expected}")
        key = str(row[fmt.id_key])
        if key in out:
            raise ValueError(f"{path}: entry {i} repeats {fmt.id_key} {row[fmt.id_key]!r}")
        out[key] = row[fmt.pred_key]
    return out


def labelled_samples(dataset: Any) -> tuple[list[Sample], int]:
    """Every usable sample of a dataset, without pixels where the reader allows, and the skip count."""
    samples, skipped = [], 0
    try:
        size = len(dataset)
    except TypeError:  # a stream (wds): no length, no random access; it yields BadRecord objects
        size = None
    if size is None:
        items: Iterable[Any] = iter(dataset)
    else:
        read = getattr(dataset, "record", dataset.__getitem__)  # record(): labels without pixels
        items = (_try(read, i) for i in range(size))
    for item in items:
        if isinstance(item, BadRecord):
            skipped += 1
        else:
            samples.append(item)
    return samples, skipped


def _try(read: Callable[[int], Sample], index: int) -> Sample | BadRecord:
    try:
        return read(index)
    except BadRecord as bad:
        return bad


def score_predictions(dataset_spec: str, predictions_file: str | os.PathLike, options: dict | None = None) -> dict[str, Any]:
    """Score a results file against the dataset a spec names (see the module doc for formats).

    Returns ``{"dataset", "predictions", "n", "skipped", "unmatched_predictions", <metrics>}``,
    where ``skipped`` counts unusable records (BadRecord) left out and ``unmatched_predictions``
    predictions for no record. A record without a prediction is a ValueError.
    """
    dataset_format = DatasetSpec.parse(dataset_spec).format
    fmt = results_format(dataset_format)
    predictions = read_predictions(predictions_file, fmt)
    samples, skipped = labelled_samples(open_dataset(dataset_spec, options))
    by_key: dict[str, Sample] = {}
    for s in samples:
        by_key.setdefault(str(fmt.record_id(s)), s)  # per-caption datasets: one entry per image
    if not by_key:
        raise ValueError(f"{dataset_spec}: no usable records to score ({skipped} skipped)")
    missing = [k for k in by_key if k not in predictions]
    if missing:
        raise ValueError(
            f"{predictions_file}: no prediction for {len(missing)} of {len(by_key)} records of {dataset_spec} "
            f"({fmt.id_key} e.g. {', '.join(missing[:5])})"
        )
    keys = list(by_key)
    scorer = SCORERS.get(dataset_format) or TASK_SCORERS[by_key[keys[0]].task]
    metrics = scorer([by_key[k] for k in keys], [predictions[k] for k in keys], dataset_spec)
    return {
        "dataset": dataset_spec,
        "predictions": str(predictions_file),
        "n": len(keys),
        "skipped": skipped,
        "unmatched_predictions": len(set(predictions) - set(by_key)),
        **_no_nan(metrics),
    }


def _need_answers(samples: Sequence[Sample], spec: str) -> None:
    if not all(s.answers for s in samples):
        raise ValueError(f"{spec} has no answers (a test split?): score it on the benchmark's server")


def _vqa2(samples: Sequence[Sample], preds: Sequence[str], spec: str) -> dict:
    _need_answers(samples, spec)
    annotations = [
        {"question_id": s.meta["question_id"], "answers": s.answers, "answer_type": s.family, "question_type": s.meta["question_type"]}
        for s in samples
    ]
    result = vqa_evaluate({s.meta["question_id"]: p for s, p in zip(samples, preds)}, annotations)
    return {"accuracy": result["overall"], "per_answer_type": result["per_answer_type"], "per_question_type": result["per_question_type"]}


def _gqa(samples: Sequence[Sample], preds: Sequence[str], spec: str) -> dict:
    _need_answers(samples, spec)
    # The official eval.py counts balanced questions only.
    kept = [(s, p) for s, p in zip(samples, preds) if s.meta.get("is_balanced", True)]
    if not kept:
        raise ValueError(f"{spec}: no balanced questions to score")
    structural = [s.family for s, _ in kept]
    result = gqa_accuracy([p for _, p in kept], [s.target for s, _ in kept], structural if all(structural) else None)
    return {"accuracy": result["overall"], "open": result["open"], "binary": result["binary"], "balanced": len(kept)}


def _entailment(samples: Sequence[Sample], preds: Sequence[str], spec: str) -> dict:
    result = snli_ve_accuracy(preds, [s.target for s in samples])
    return {"accuracy": result.pop("overall"), **result}


def _captions(samples: Sequence[Sample], preds: Sequence[str], spec: str) -> dict:
    candidates = [coco_tokenize(p) for p in preds]
    references = [[coco_tokenize(r) for r in (s.answers or [s.target])] for s in samples]
    bleu = corpus_bleu(candidates, references)
    return {"CIDEr-D": cider_d(candidates, references), **{f"BLEU-{n}": b for n, b in enumerate(bleu, start=1)}}


def _exact(samples: Sequence[Sample], preds: Sequence[str], spec: str) -> dict:
    result = exact_match_by_group(preds, [s.target for s in samples], [s.family for s in samples])
    return {"accuracy": result["overall"], "per_family": result["per_group"]}


SCORERS = {"vqa2": _vqa2, "gqa": _gqa, "snli-ve": _entailment, "coco-captions": _captions}
TASK_SCORERS = {"vqa": _exact, "entailment": _exact, "caption": _captions}


def _no_nan(value: Any) -> Any:
    """NaN (a group without examples) -> None, so the result is strict JSON."""
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


# The formats with an official results file and metric (``jarvl eval`` scores them as ``jarvl score`` does).
OFFICIAL = ("vqa2", "gqa", "snli-ve", "coco-captions")


def write_and_score(spec: str, fmt: str, dataset, n: int | None, answered: list, path: str | None) -> dict[str, Any]:
    """Write the results file (to ``path``, else a temporary one) and score it as ``jarvl score`` does.

    Returns ``{"format", "results", "n", "unanswered", <metrics>}``; no metrics when the dataset has
    no answers (a test split) or no official metric. Predictions are listed in dataset order,
    first ``n`` records (all of a stream's answered ones).
    """
    by_id = {s.id: p for s, p in answered}
    if n is None or not hasattr(dataset, "record"):
        samples, predictions, unanswered = [s for s, _ in answered], [p for _, p in answered], 0
    else:
        samples, predictions = [], []
        for i in range(n):
            try:
                sample = dataset.record(i)  # labels without pixels; unusable labels: left out, as jarvl score does
            except BadRecord:
                continue
            samples.append(sample)
            predictions.append(by_id.get(sample.id, ""))
        unanswered = sum(s.id not in by_id for s in samples)
    out: dict[str, Any] = {"format": fmt, "results": path, "n": 0, "unanswered": unanswered}
    with tempfile.TemporaryDirectory() as tmp:
        written = write_predictions(fmt, samples, predictions, path or os.path.join(tmp, "results.json"))
        rows = json.loads(written.read_text(encoding="utf-8"))
    out["n"] = len(rows)
    if fmt not in SCORERS or not samples or not all(s.answers for s in samples):
        return out  # nothing to score here (a test split: submit the file to the benchmark's server)
    # The rows as jarvl score reads them back: one per record id, first prediction kept, file order.
    fmt_rows = results_format(fmt)
    first: dict[str, Any] = {}
    for s in samples:
        first.setdefault(str(fmt_rows.record_id(s)), s)
    keyed = {str(r[fmt_rows.id_key]): r[fmt_rows.pred_key] for r in rows}
    metrics = SCORERS[fmt](list(first.values()), [keyed[k] for k in first], spec)
    return {**out, **_no_nan(metrics)}
