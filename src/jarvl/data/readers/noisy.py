"""``noisy:SPEC?p=0.4``: another dataset whose target is, for a share p of records, another record's.

A mis-paired caption (the text of a different image) is the usual noise of web image-text data
(Conceptual Captions, LAION); this wrapper makes it on any random-access dataset, to build
mixtures with a clean and a noisy set (docs/sampling.md, ``benchmarks/configs/adaptive_sampling.yaml``).

The wrapped spec is written in full after ``noisy:``; the wrapper takes the options ``p`` (share
of mis-paired records, default 0.5) and ``noise_seed`` (default 0) and passes every other option
to the wrapped reader::

    noisy:synthetic:caption:train?n=40000&seed=2&p=0.4     # synthetic captions, 40% of the wrong image
    noisy:coco-captions:/data/coco:train?p=0.2

Which records are mis-paired, and with which other record, is a pure function of
(noise_seed, index): the same in every DataLoader worker, on resume and across machines.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from torch.utils.data import IterableDataset

from jarvl.data.bad_records import BadRecord
from jarvl.data.registry import open_dataset, register_reader
from jarvl.data.schema import Sample


class NoisyDataset:
    """``inner`` with the target and answers of a share ``p`` of its records taken from another record.

    Args:
        inner: a random-access dataset (``len``, ``ds[i] -> Sample``) with at least 2 records when p > 0.
        p: the probability, drawn independently per index, that record i carries another record's text.
        seed: selects which records are mis-paired and with which.

    A mis-paired sample keeps its image, prompt, task, family and id, and records the index whose
    text it carries in ``meta["noisy_from"]``. Clean samples are returned unchanged.
    """

    def __init__(self, inner, p: float, seed: int = 0) -> None:
        if isinstance(inner, IterableDataset):
            raise ValueError("noisy: the wrapped dataset must be random-access (a streamed wds reader is not)")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"noisy: p must be in [0, 1], got {p!r}")
        if p > 0 and len(inner) < 2:
            raise ValueError(f"noisy: p={p} needs at least 2 records to mis-pair, the wrapped dataset has {len(inner)}")
        self.inner, self.p, self.seed = inner, p, seed

    def __len__(self) -> int:
        return len(self.inner)

    def source(self, index: int) -> int | None:
        """The index whose target record ``index`` carries; ``None`` when it keeps its own."""
        n = len(self.inner)
        index = range(n)[index]  # IndexError when out of range, as the wrapped reader would
        rng = random.Random(f"jarvl-noisy/{self.seed}/{index}")
        if rng.random() >= self.p:
            return None
        return (index + 1 + rng.randrange(n - 1)) % n  # any index but this one, uniformly

    def _label(self, index: int) -> tuple[str, list[str]]:
        """(target, answers) of record ``index``, read without decoding its image where the reader can."""
        if hasattr(self.inner, "item"):
            target = self.inner.item(index).target
            return target, [target]
        record = self.inner.record(index) if hasattr(self.inner, "record") else self.inner[index]
        return record.target, list(record.answers)

    def __getitem__(self, index: int) -> Sample:
        sample = self.inner[index]
        j = self.source(index)
        if j is None:
            return sample
        try:
            target, answers = self._label(j)
        except BadRecord:
            return sample  # the other record is unusable: keep this one clean rather than lose it
        return dataclasses.replace(sample, target=target, answers=answers, meta={**sample.meta, "noisy_from": j})


class NoisyItems(NoisyDataset):
    """A ``NoisyDataset`` over a reader with ``item(i)`` (synthetic): text without drawing images,
    so that tokenizer training reads the noisy texts as cheaply as the clean ones."""

    def item(self, index: int):
        it = self.inner.item(index)
        j = self.source(index)
        return it if j is None else dataclasses.replace(it, target=self.inner.item(j).target)


@register_reader("noisy", split=False)
def open_noisy(path: str, split: str | None, options: dict[str, Any]) -> NoisyDataset:
    """``noisy:FORMAT:PATH[:SPLIT]?p=0.4&noise_seed=0&...``: options other than p and noise_seed go to FORMAT."""
    opts = dict(options)
    try:
        p = float(opts.pop("p", 0.5))
        seed = int(opts.pop("noise_seed", 0))
    except ValueError as err:
        raise ValueError(f"noisy: option p must be a number and noise_seed an int ({err})") from None
    # noisy takes no split of its own: ``path`` is the wrapped spec, split and all.
    if ":" not in path:
        raise ValueError(f"noisy: expected noisy:FORMAT:PATH[:SPLIT] (e.g. noisy:synthetic:caption:train?p=0.4), got 'noisy:{path}'")
    inner = open_dataset(path, opts)
    return (NoisyItems if hasattr(inner, "item") else NoisyDataset)(inner, p, seed)
