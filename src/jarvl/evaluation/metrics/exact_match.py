"""Exact-match accuracies: generic (with a per-group breakdown), GQA (open / binary) and SNLI-VE.

Every function takes parallel sequences (one prediction and one reference per example) and
returns fractions in [0, 1]. A group with no examples never appears in a breakdown, except in
the fixed-key GQA and SNLI-VE results, where it is ``nan``.
"""

import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence

SNLI_VE_LABELS = ("entailment", "neutral", "contradiction")
BINARY_ANSWERS = frozenset({"yes", "no"})


def normalize_answer(s: str) -> str:
    """Lower-case, strip whitespace and drop one trailing period: ``" Yes. "`` -> ``"yes"``."""
    s = s.strip().lower()
    if s.endswith("."):
        s = s[:-1].rstrip()
    return s


def _check_lengths(**seqs: Sequence) -> None:
    """Fail loudly, naming the arguments, when parallel sequences differ in length or are empty."""
    lengths = {name: len(seq) for name, seq in seqs.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"parallel inputs differ in length: {lengths}")
    if not next(iter(lengths.values())):
        raise ValueError(f"empty inputs: {lengths}")


def exact_match_by_group(
    preds: Sequence[str],
    refs: Sequence[str],
    groups: Sequence[Hashable] | None = None,
    normalize: Callable[[str], str] | None = normalize_answer,
) -> dict:
    """Exact-match accuracy overall and per group.

    Args:
        preds: predicted strings, one per example.
        refs: reference strings, one per example.
        groups: optional group label per example (question type, dataset, ...).
        normalize: applied to both sides before comparing; ``None`` compares raw strings.

    Returns:
        ``{"overall": float, "per_group": {group: float}}``; ``per_group`` is empty without
        ``groups``.
    """
    if groups is None:
        _check_lengths(preds=preds, refs=refs)
    else:
        _check_lengths(preds=preds, refs=refs, groups=groups)
    norm = normalize or (lambda s: s)
    hits = [float(norm(p) == norm(r)) for p, r in zip(preds, refs, strict=True)]
    per_group = defaultdict(list)
    if groups is not None:
        for hit, g in zip(hits, groups, strict=True):
            per_group[g].append(hit)
    return {
        "overall": sum(hits) / len(hits),
        "per_group": {g: sum(v) / len(v) for g, v in per_group.items()},
    }


def gqa_accuracy(preds: Sequence[str], refs: Sequence[str], structural_types: Sequence[str] | None = None) -> dict[str, float]:
    """GQA accuracy overall and for open vs binary questions, after ``normalize_answer``.

    Without ``structural_types`` a question is binary when its reference answer is yes/no. With
    them, the official GQA ``eval.py`` rule is used instead: ``"query"`` questions are open and
    every other structural type (verify, logical, choose, compare) is binary. The official script
    compares raw strings (no normalisation) and counts only ``isBalanced`` questions: filter the
    inputs to the balanced split before calling.

    Returns:
        ``{"overall", "open", "binary"}`` fractions; a split without questions is ``nan``.
    """
    if structural_types is None:
        kinds = ["binary" if normalize_answer(r) in BINARY_ANSWERS else "open" for r in refs]
    else:
        kinds = ["open" if t == "query" else "binary" for t in structural_types]
    result = exact_match_by_group(preds, refs, kinds)
    return {
        "overall": result["overall"],
        **{k: result["per_group"].get(k, math.nan) for k in ("open", "binary")},
    }


def snli_ve_accuracy(preds: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """SNLI-VE 3-way accuracy overall and per gold label (i.e. per-class recall).

    Gold labels must be entailment / neutral / contradiction (case and surrounding space
    ignored); anything else is an error. A prediction outside the three labels is simply wrong.

    Returns:
        ``{"overall", "entailment", "neutral", "contradiction"}`` fractions; ``nan`` for a label
        that never occurs as gold.
    """
    gold = [normalize_answer(label) for label in labels]
    bad = sorted({g for g in gold if g not in SNLI_VE_LABELS})
    if bad:
        raise ValueError(f"unknown SNLI-VE gold label(s) {bad}; expected one of {SNLI_VE_LABELS}")
    result = exact_match_by_group(preds, gold, gold)
    return {
        "overall": result["overall"],
        **{k: result["per_group"].get(k, math.nan) for k in SNLI_VE_LABELS},
    }
