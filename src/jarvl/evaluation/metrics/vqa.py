"""VQA accuracy, reproducing the official ``vqaEval.py`` (GT-Vision-Lab/VQA) bit for bit.

Quirks of the official script that are kept on purpose, because published numbers include them:

* Predictions go through ``process_punctuation`` then ``process_digit_article`` (lower-casing,
  number words -> digits, articles dropped, contractions restored): see ``normalize_vqa_answer``.
* Ground-truth answers get ``process_punctuation`` **only**, never ``process_digit_article`` (so
  no lower-casing and no "two" -> "2"), and only when the ten answers are not all identical
  (``len(set(answers)) > 1``).
* ``periodStrip`` is ``(?!<=\\d)(\\.)(?!\\d)``: the ``(?!<=`` is a negative *lookahead*, not a
  lookbehind, so every "." not followed by a digit is removed. It is applied with
  ``count=re.UNICODE`` (the flag was passed positionally as ``count``), i.e. at most 32 removals.
* ``commaStrip`` never substitutes anything: it is only a test. When the text contains
  ``digit,digit`` every punctuation mark is deleted (``"1,000"`` -> ``"1000"``); otherwise a mark
  touching a space is deleted and any other mark becomes a space (``"yes,no"`` -> ``"yes no"``).
* Contraction keys with capitals ("Im", "Ive", ...) can never match after lower-casing, and
  "somebody'd" maps to "somebodyd"; both are in the official table and are kept.

All accuracies here are fractions in [0, 1]; the official script prints ``round(100 * acc, 2)``.
"""

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence

# fmt: off
CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", "somebodyll": "somebody'll",
    "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've",
    "someone'dve": "someone'd've", "someonell": "someone'll", "someones": "someone's",
    "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've",
    "werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's",
    "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's",
    "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've",
    "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're",
    "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all",
    "yall'll": "y'all'll", "y'allll": "y'all'll", "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd", "youd've": "you'd've",
    "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}
MANUAL_MAP = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
ARTICLES = ("a", "an", "the")
PUNCT = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-",
         ">", "<", "@", "`", ",", "?", "!")
# fmt: on
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")


def process_punctuation(text: str) -> str:
    """Official ``processPunctuation``: the only processing ground-truth answers ever receive."""
    out = text
    has_digit_comma = COMMA_STRIP.search(text) is not None
    for p in PUNCT:
        # The test looks at the *original* text, the replacement at the running output.
        if (p + " " in text or " " + p in text) or has_digit_comma:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return PERIOD_STRIP.sub("", out, count=re.UNICODE)  # official passes re.UNICODE as count (32)


def process_digit_article(text: str) -> str:
    """Official ``processDigitArticle``: lower-case, number words to digits, drop articles,
    restore contractions."""
    words = [MANUAL_MAP.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in ARTICLES]
    return " ".join(CONTRACTIONS.get(w, w) for w in words)


def normalize_vqa_answer(s: str) -> str:
    """Normalise a *predicted* answer exactly as the official script does.

    E.g. ``"Two"`` -> ``"2"``, ``"isnt"`` -> ``"isn't"``, ``"the dog."`` -> ``"dog"``,
    ``"1,000"`` -> ``"1000"``.
    """
    s = s.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(s))


def _answer_strings(answers: Sequence) -> list[str]:
    """Accept the raw VQA layout (dicts with an ``"answer"`` key) or plain strings."""
    return [a["answer"] if isinstance(a, Mapping) else a for a in answers]


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """VQA accuracy of one prediction against its (usually 10) human answers, in [0, 1].

    The mean over the leave-one-annotator-out subsets of ``min(#matches / 3, 1)``, so 1, 2, 3 and
    4+ matching annotators (out of 10) score 0.3, 0.6, 0.9 and 1.0. The official script drops the
    left-out answer by dict inequality; VQA answer dicts carry distinct ``answer_id`` values, so
    that is exactly leave-one-out by position, which is what is done here.
    """
    answers = _answer_strings(answers)
    if not answers:
        raise ValueError("vqa_accuracy needs at least one ground-truth answer")
    pred = normalize_vqa_answer(prediction)
    if len(set(answers)) > 1:  # official: gt answers are processed only when they disagree
        answers = [process_punctuation(a) for a in answers]
    matches = [a == pred for a in answers]
    total = sum(matches)
    scores = [min(1.0, (total - m) / 3) for m in matches]
    return sum(scores) / len(scores)


def vqa_evaluate(predictions: Mapping, annotations: Sequence[Mapping]) -> dict:
    """Official VQA evaluation over a set of questions.

    Args:
        predictions: ``{question_id: answer string}``; every annotated question must have one
            (extra predictions are ignored).
        annotations: VQA annotation dicts with ``question_id``, ``answers`` (list of
            ``{"answer": ...}`` dicts or strings), ``answer_type`` and ``question_type``.

    Returns:
        ``{"overall": float, "per_answer_type": {type: float}, "per_question_type": {type: float},
        "per_question": {question_id: float}}``, all fractions in [0, 1] (official: ``100 * x``).
    """
    if not annotations:
        raise ValueError("vqa_evaluate needs at least one annotation")
    missing = [a["question_id"] for a in annotations if a["question_id"] not in predictions]
    if missing:
        raise KeyError(f"no prediction for {len(missing)} question(s), e.g. {missing[:5]}")
    scores, per_question, by_ans, by_ques = [], {}, defaultdict(list), defaultdict(list)
    for ann in annotations:
        qid = ann["question_id"]
        acc = vqa_accuracy(predictions[qid], ann["answers"])
        scores.append(acc)
        per_question[qid] = acc
        by_ans[ann["answer_type"]].append(acc)
        by_ques[ann["question_type"]].append(acc)
    return {
        "overall": sum(scores) / len(scores),
        "per_answer_type": {k: sum(v) / len(v) for k, v in by_ans.items()},
        "per_question_type": {k: sum(v) / len(v) for k, v in by_ques.items()},
        "per_question": per_question,
    }
