"""Several datasets read as one: the training sets of a run, and the text the tokenizer learns from."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from torch.utils.data import IterableDataset

from jarvl.data.bad_records import BadRecord
from jarvl.data.registry import open_dataset
from jarvl.data.schema import Sample


class ConcatDataset:
    """Several readers as one random-access dataset (indices run through them in order).

    Streamed readers (``IterableDataset``, e.g. ``wds``) have no length: with any of them,
    ``streamed`` is True, ``len()`` is a TypeError and only ``pairs`` and ``datasets`` are usable
    (``jarvl.train.batches`` streams them).
    """

    def __init__(self, datasets: list) -> None:
        self.datasets = datasets
        self.streamed = any(isinstance(d, IterableDataset) for d in datasets)
        self.offsets = [] if self.streamed else list(itertools.accumulate(len(d) for d in datasets))

    def __len__(self) -> int:
        if self.streamed:
            raise TypeError("streamed datasets (wds) have no length")
        return self.offsets[-1] if self.offsets else 0

    def __getitem__(self, index: int):
        for d, end in zip(self.datasets, self.offsets):
            if index < end:
                return d[index - (end - len(d))]
        raise IndexError(index)

    def pairs(self, limit: int | None = None) -> Iterator[tuple[str, str]]:
        """(prompt, target) of up to ``limit`` records shared evenly among the datasets (so every
        dataset's words reach the tokenizer), without decoding images where a reader can."""
        share = None if limit is None else max(1, limit // max(1, len(self.datasets)))
        for d in self.datasets:
            count = 0
            if isinstance(d, IterableDataset):  # a stream: its first records, bad ones left out
                for item in d:
                    if share is not None and count >= share:
                        break
                    if isinstance(item, Sample):
                        count += 1
                        yield item.prompt, item.target
                continue
            for i in range(len(d) if share is None else min(len(d), share)):
                yield record_text(d, i)


def record_text(dataset, index: int) -> tuple[str, str]:
    """(prompt, target) of one record, ``("", "")`` for an unusable one; readers with ``item(i)``
    (synthetic) skip image drawing, readers with ``record(i)`` (labels only) skip image decoding."""
    if hasattr(dataset, "item"):
        it = dataset.item(index)
        return it.prompt, it.target
    try:
        s = dataset.record(index) if hasattr(dataset, "record") else dataset[index]
    except BadRecord:
        return "", ""
    return s.prompt, s.target


def open_datasets(specs: list[str]) -> ConcatDataset:
    """Open every spec (each fails at start naming its file if it cannot be parsed)."""
    if not specs:
        raise ValueError("no datasets given")
    return ConcatDataset([open_dataset(s) for s in specs])
