"""Bad records: raised by readers, skipped and counted by the loader, never fatal one by one.

A reader raises :class:`BadRecord` for a record it cannot use (missing or corrupt image, empty
question, wrong field type, ...). The loader turns it into a skip; :class:`SkipStats` counts skips
by reason, keeps the first few offenders, and says when the bad share passes a limit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from jarvl.errors import RunAborted


class BadRecord(Exception):
    """A record that cannot be used. ``reason`` is a short slug (``missing_image``, ``corrupt_image``...)."""

    def __init__(self, reason: str, source: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {source}" + (f" ({detail})" if detail else ""))
        self.reason, self.source, self.detail = reason, source, detail

    def __reduce__(self):
        # Exceptions pickle only their message by default; DataLoader workers send these across.
        return (BadRecord, (self.reason, self.source, self.detail))


class TooManyBadRecords(RunAborted):
    """More than the allowed share of records were bad: the data, not the run, needs fixing."""


@dataclass
class SkipStats:
    """Counts of skipped records by reason, with up to ``keep`` example sources per reason."""

    keep: int = 3
    seen: int = 0
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, source: str) -> None:
        """Record one skipped record."""
        self.counts[reason] += 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < self.keep and source not in examples:
            examples.append(source)

    def merge(self, seen: int, skipped: list[tuple[str, str]]) -> None:
        """Add a batch's tally: ``seen`` records looked at, ``skipped`` (reason, source) pairs."""
        self.seen += seen
        for reason, source in skipped:
            self.add(reason, source)

    @property
    def skipped(self) -> int:
        """Total number of skipped records."""
        return sum(self.counts.values())

    def check(self, max_bad_fraction: float, min_seen: int = 100, totals: tuple[float, float] | None = None) -> None:
        """Raise :class:`TooManyBadRecords` when more than ``max_bad_fraction`` of the records are bad.

        Proportionate for small counts: before ``min_seen`` records the share is measured against
        ``min_seen``, i.e. the run stops as soon as the bad records already seen would be too many
        even if every record up to ``min_seen`` were good (at 1%: a second bad record among the
        first 100 stops it; 5 bad of 50 stop it at once). One bad record in a tiny set is tolerated,
        as it is in a set of 100. ``totals`` (seen, skipped) over all DDP ranks, so that every rank
        takes the same decision.
        """
        seen, skipped = totals if totals is not None else (self.seen, self.skipped)
        if skipped > max_bad_fraction * max(seen, min_seen):
            raise TooManyBadRecords(
                f"{int(skipped)} of {int(seen)} records were bad (> {max_bad_fraction:.1%} allowed, "
                f"set data.max_bad_fraction to change): {self.summary()}"
            )

    def summary(self) -> str:
        """One line: counts by reason with the first offenders."""
        if not self.counts:
            return "no records skipped"
        parts = [f"{reason} x{n} (e.g. {', '.join(self.examples.get(reason, []))})" for reason, n in self.counts.most_common()]
        return f"skipped {self.skipped} of {self.seen}: " + "; ".join(parts)

    def as_dict(self) -> dict:
        """JSON-serialisable summary."""
        return {"seen": self.seen, "skipped": self.skipped, "by_reason": dict(self.counts), "examples": self.examples}
