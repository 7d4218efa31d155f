"""VQA accuracy against hand-derived values of the official vqaEval.py behaviour."""

import pytest

from jarvl.evaluation.metrics import normalize_vqa_answer, vqa_accuracy, vqa_evaluate
from jarvl.evaluation.metrics.vqa import process_punctuation


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Two", "2"),  # number word -> digit, after lower-casing
        ("none", "0"),
        ("Ten dogs", "10 dogs"),
        ("isnt", "isn't"),  # contraction restored
        ("the dog.", "dog"),  # article dropped, final period stripped
        ("An apple", "apple"),
        ("1,000", "1000"),  # digit,digit: every punctuation mark is deleted
        ("1,000 dogs, two cats", "1000 dogs 2 cats"),
        ("yes,no", "yes no"),  # a mark touching no space becomes a space
        ("Yes, it is!", "yes it is"),  # ", " touches a space: deleted; "!" -> " " then squeezed
        ("3.5", "3.5"),  # a period followed by a digit is kept
        ("\tdogs\n", "dogs"),
        ("t-shirt", "t shirt"),
        ("I'm", "i'm"),
    ],
)
def test_normalize_vqa_answer(raw, expected):
    assert normalize_vqa_answer(raw) == expected


def test_period_strip_stops_after_32_removals():
    # The official script passes re.UNICODE (== 32) positionally as ``count``.
    text = ".".join("x" * 40)  # 39 periods
    assert process_punctuation(text).count(".") == 39 - 32


@pytest.mark.parametrize("matches, expected", [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_leave_one_out_scoring(matches, expected):
    # k of 10 match: k annotators see k-1 others and 10-k see k, so the score is
    # (k * min(1, (k-1)/3) + (10-k) * min(1, k/3)) / 10.
    others = "dog bird fish cow pig hen owl ant bee elk".split()
    answers = ["cat"] * matches + others[: 10 - matches]
    assert vqa_accuracy("cat", answers) == pytest.approx(expected)


def test_prediction_is_normalised_before_matching():
    assert vqa_accuracy("The Cat.", ["cat"] * 3 + ["dog"] * 7) == pytest.approx(0.9)


def test_ground_truth_gets_punctuation_only_and_only_when_answers_disagree():
    # Unanimous answers are compared raw: the prediction becomes "t shirt" and never matches.
    assert vqa_accuracy("t-shirt", ["t-shirt"] * 10) == 0.0
    # With disagreement the gt "t-shirt" becomes "t shirt" and 3 annotators match.
    assert vqa_accuracy("t-shirt", ["t-shirt"] * 3 + ["shirt"] * 7) == pytest.approx(0.9)
    # Ground truth never gets digit processing: "two" stays "two" while the prediction becomes "2".
    assert vqa_accuracy("two", ["two"] * 10) == 0.0
    assert vqa_accuracy("two", ["two"] * 9 + ["2"]) == pytest.approx(0.3)


def test_answer_dicts_as_in_the_annotation_files():
    answers = [{"answer": "yes", "answer_id": i + 1, "answer_confidence": "yes"} for i in range(2)]
    answers += [{"answer": "no", "answer_id": i + 3, "answer_confidence": "yes"} for i in range(8)]
    assert vqa_accuracy("yes", answers) == pytest.approx(0.6)


def test_vqa_evaluate_breakdowns():
    annotations = [
        {
            "question_id": 1,
            "answers": ["yes"] * 10,
            "answer_type": "yes/no",
            "question_type": "is the",
        },
        {
            "question_id": 2,
            "answers": ["2"] * 2 + ["3"] * 8,
            "answer_type": "number",
            "question_type": "how many",
        },
        {
            "question_id": 3,
            "answers": ["red"] * 10,
            "answer_type": "other",
            "question_type": "what color",
        },
        {
            "question_id": 4,
            "answers": ["no"] * 10,
            "answer_type": "yes/no",
            "question_type": "is the",
        },
    ]
    predictions = {1: "Yes", 2: "two", 3: "blue", 4: "yes", 99: "ignored"}
    result = vqa_evaluate(predictions, annotations)
    assert result["per_question"] == pytest.approx({1: 1.0, 2: 0.6, 3: 0.0, 4: 0.0})
    assert result["overall"] == pytest.approx(1.6 / 4)
    assert result["per_answer_type"] == pytest.approx({"yes/no": 0.5, "number": 0.6, "other": 0.0})
    assert result["per_question_type"] == pytest.approx({"is the": 0.5, "how many": 0.6, "what color": 0.0})


def test_vqa_evaluate_fails_loudly_on_missing_predictions():
    ann = [{"question_id": 7, "answers": ["yes"], "answer_type": "yes/no", "question_type": "is"}]
    with pytest.raises(KeyError, match="no prediction"):
        vqa_evaluate({}, ann)
    with pytest.raises(ValueError):
        vqa_accuracy("yes", [])
