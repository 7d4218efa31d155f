"""Build what a run needs from its config: datasets, tokenizer, model. Shared by train, eval, demo."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from torch.utils.data import IterableDataset

from jarvl.data.collate import Collator
from jarvl.data.registry import open_dataset
from jarvl.data.schema import Sample
from jarvl.data.tokenizer import Tokenizer, train_tokenizer
from jarvl.models.config import ModelConfig


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
    from jarvl.data.errors import BadRecord

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


def fit_tokenizer(train: ConcatDataset, kind: str, vocab_size: int, samples: int) -> Tokenizer:
    """Train the tokenizer on the prompts and targets of the first ``samples`` training records."""
    texts = [t for pair in train.pairs(samples) for t in pair if t]
    if not texts:
        raise ValueError("the training data has no text to train a tokenizer on")
    return train_tokenizer(texts, vocab_size=vocab_size, kind=kind)


def fit_model_to_tokenizer(cfg: ModelConfig, tokenizer: Tokenizer) -> ModelConfig:
    """The model's vocabulary size and special ids follow its tokenizer.

    A pretrained text tower's embedding table must hold every id of the tokenizer (T5's has
    padding rows beyond it); otherwise this fails here, not at the first batch.
    """
    tower_vocab = cfg.text.hf_config.get("vocab_size")
    if tower_vocab and tokenizer.vocab_size > tower_vocab:
        raise ValueError(
            f"the tokenizer has {tokenizer.vocab_size} ids, more than the {tower_vocab} rows of the text backbone's "
            f"embeddings ({cfg.text.backbone}): use the backbone's own tokenizer.json"
        )
    cfg.text.vocab_size = tokenizer.vocab_size
    cfg.text.pad_id, cfg.text.bos_id, cfg.text.eos_id = tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id
    return cfg


def backbone_tokenizer(cfg: ModelConfig) -> Tokenizer | None:
    """The text backbone's own tokenizer (it replaces a locally trained one), or None without one."""
    return Tokenizer.from_pretrained(cfg.text.backbone) if cfg.text.backbone else None


def make_collator(cfg: ModelConfig, tokenizer: Tokenizer) -> Collator:
    """The collate function for ``cfg``: its image size and preprocessing, its text lengths."""
    v = cfg.vision
    return Collator(tokenizer, v.image_size, cfg.text.max_len, cfg.decoder.max_len, mean=v.mean, std=v.std, crop=v.crop)


def load_tokenizer(ckpt: Path) -> Tokenizer:
    """The tokenizer saved beside a checkpoint's weights."""
    return Tokenizer.load(Path(ckpt) / "tokenizer.json")
