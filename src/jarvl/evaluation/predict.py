"""The predict loop and exact match: evaluators get a predict function, never a model class (big_vision's habit).

``predict_all`` runs a batch -> strings function over collated batches (``jarvl.inference`` makes one
from a model); ``exact_match_report`` scores the records; ``AnswerTally`` is the text-only baseline.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from jarvl.evaluation.metrics.exact_match import normalize_answer

PredictFn = Callable[[Any], list[str]]  # batch -> one predicted string per kept sample


def predict_all(predict: PredictFn, batches: Iterable[Any]) -> list[dict[str, Any]]:
    """Run ``predict`` over collated batches; one record per sample: id, task, family, prompt, target, answers, prediction."""
    records = []
    for batch in batches:
        if len(batch) == 0:
            continue
        for sample, pred in zip(batch.samples, predict(batch)):
            records.append(
                {
                    "id": sample.id,
                    "task": sample.task,
                    "family": sample.family,
                    "prompt": sample.prompt,
                    "target": sample.target,
                    "answers": sample.answers,
                    "prediction": pred,
                }
            )
    return records


def exact_match_report(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Exact match (after normalisation) overall, per task and per family; fractions in [0, 1]."""
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        ok = int(normalize_answer(r["prediction"]) == normalize_answer(r["target"]))
        for key in ("overall", f"task/{r['task']}", f"family/{r['family'] or 'none'}"):
            hits[key][0] += ok
            hits[key][1] += 1
    acc = {k: h / n for k, (h, n) in hits.items()}
    return {
        "n": len(records),
        "accuracy": acc.get("overall", 0.0),
        "per_task": {k[5:]: v for k, v in acc.items() if k.startswith("task/")},
        "per_family": {k[7:]: v for k, v in acc.items() if k.startswith("family/")},
    }


class AnswerTally:
    """The language prior: answers counted per exact (normalised) prompt, scored like a model.

    Feed it (prompt, target) pairs of the training set with ``add`` (or call it on collated batches,
    as a trainer batch hook); ``report(records)`` guesses, for each record, the majority training
    answer of its prompt (else the overall majority) and scores the guesses by exact match.
    """

    def __init__(self) -> None:
        self.by_prompt: dict[str, Counter] = defaultdict(Counter)

    def add(self, prompt: str, target: str) -> None:
        """Count one training (prompt, target) pair."""
        self.by_prompt[normalize_answer(prompt)][target] += 1

    def merge(self, other: AnswerTally) -> None:
        """Add ``other``'s counts (another rank's share of the training batches)."""
        for prompt, counts in other.by_prompt.items():
            self.by_prompt[prompt].update(counts)

    def __call__(self, batch: Any) -> None:
        """Count every kept sample of a collated batch."""
        for s in batch.samples:
            self.add(s.prompt, s.target)

    def report(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """``exact_match_report`` of the guesses on ``records``."""
        overall: Counter = Counter()
        for counts in self.by_prompt.values():
            overall.update(counts)
        fallback = overall.most_common(1)[0][0] if overall else ""
        guessed = []
        for r in records:
            counts = self.by_prompt.get(normalize_answer(r["prompt"]))
            guessed.append({**r, "prediction": counts.most_common(1)[0][0] if counts else fallback})
        return exact_match_report(guessed)


def text_only_baseline(train_pairs: Iterable[tuple[str, str]], records: list[dict[str, Any]]) -> dict[str, Any]:
    """:class:`AnswerTally` of ``train_pairs`` (prompt, target of the training set), scored on ``records``."""
    tally = AnswerTally()
    for prompt, target in train_pairs:
        tally.add(prompt, target)
    return tally.report(records)
