"""Exact-match accuracies (generic, GQA, SNLI-VE) on hand-derived values."""

import math

import pytest

from jarvl.evaluation.metrics import (
    exact_match_by_group,
    gqa_accuracy,
    normalize_answer,
    snli_ve_accuracy,
)


@pytest.mark.parametrize("raw, expected", [(" Yes. ", "yes"), ("Red", "red"), ("3.5", "3.5"), ("no .", "no"), ("", "")])
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected


def test_exact_match_by_group():
    result = exact_match_by_group(["a", "B.", "c", "x"], ["a", "b", "d", "x"], ["g1", "g1", "g2", "g2"])
    assert result == {"overall": 0.75, "per_group": {"g1": 1.0, "g2": 0.5}}
    assert exact_match_by_group(["a", "B."], ["a", "b"]) == {"overall": 1.0, "per_group": {}}
    assert exact_match_by_group(["a", "B."], ["a", "b"], normalize=None)["overall"] == 0.5


def test_exact_match_fails_loudly_on_bad_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        exact_match_by_group(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="differ in length"):
        exact_match_by_group(["a"], ["a"], ["g", "h"])
    with pytest.raises(ValueError, match="empty"):
        exact_match_by_group([], [])


def test_gqa_open_binary_by_answer():
    preds = ["Yes", "no", "table", "red.", "cat"]
    refs = ["yes", "yes", "table", "red", "dog"]
    result = gqa_accuracy(preds, refs)
    assert result == pytest.approx({"overall": 3 / 5, "binary": 1 / 2, "open": 2 / 3})


def test_gqa_open_binary_by_structural_type():
    # Official rule: only "query" is open; a "choose" question with a non-yes/no answer is binary.
    preds = ["left", "yes", "table"]
    refs = ["left", "no", "table"]
    result = gqa_accuracy(preds, refs, structural_types=["choose", "verify", "query"])
    assert result == pytest.approx({"overall": 2 / 3, "binary": 1 / 2, "open": 1.0})


def test_gqa_empty_split_is_nan():
    result = gqa_accuracy(["yes"], ["yes"])
    assert result["binary"] == 1.0 and math.isnan(result["open"])


def test_snli_ve_per_label():
    preds = ["entailment", "neutral", "Contradiction", "entailment", "maybe"]
    labels = ["entailment", "entailment", "contradiction", "neutral", "neutral"]
    result = snli_ve_accuracy(preds, labels)
    assert result == pytest.approx({"overall": 2 / 5, "entailment": 1 / 2, "neutral": 0.0, "contradiction": 1.0})


def test_snli_ve_rejects_unknown_gold_labels():
    with pytest.raises(ValueError, match="unknown SNLI-VE gold label"):
        snli_ve_accuracy(["entailment"], ["yes"])
