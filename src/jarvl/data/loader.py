"""Deterministic, resumable batching: the batch at step s is a pure function of (seed, s).

Global batches are cut from per-epoch permutations seeded by (seed, epoch); under DDP each rank
takes its contiguous share of every global batch, so the data seen is the same whatever the
number of ranks, and a resumed run continues with exactly the batch it would have seen.

Streamed datasets (``IterableDataset``: ``wds``) have no indices: ``make_stream_loader`` batches
their items in stream order (optionally repeating them endlessly and skipping the batches a
resumed run already consumed), and ``stream_batches`` does one pass in this process.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, get_worker_info

from jarvl.data.bad_records import BadRecord


class SafeDataset(Dataset):
    """Wraps a reader so that ``BadRecord`` becomes a value the collator counts, never a crash."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        try:
            return self.dataset[index]
        except BadRecord as bad:
            return named(bad)


def named(bad: BadRecord) -> BadRecord:
    """``bad`` with its detail (the file, the field) folded into ``source``.

    The collator tallies (reason, source) pairs; this way skip summaries name the offending file,
    e.g. ``missing_image x1 (e.g. 11 (no file /data/val2014/COCO_val2014_000000000011.jpg))``.
    """
    return BadRecord(bad.reason, f"{bad.source} ({bad.detail})") if bad.detail else bad


class ResumableBatchSampler(Sampler[list[int]]):
    """Yields this rank's indices of global batches ``start_step``, ``start_step + 1``, ...

    Args:
        size: dataset length. global_batch: samples per optimiser step over all ranks.
        seed: permutation seed. start_step: first global batch to yield (resume).
        rank, world: this process's share. steps: how many batches to yield (None = forever).
        group: indices ``group g .. group g + group - 1`` stay consecutive (the permutation is over
            groups): a dataset's ``group_size``, e.g. several questions about one image. A group
            cut by a batch boundary is still correct, it only shares less.
    """

    def __init__(
        self,
        size: int,
        global_batch: int,
        seed: int,
        start_step: int = 0,
        rank: int = 0,
        world: int = 1,
        steps: int | None = None,
        group: int = 1,
    ) -> None:
        if size <= 0:
            raise ValueError("cannot sample batches from an empty dataset")
        if global_batch % world:
            raise ValueError(f"global batch {global_batch} is not divisible by {world} ranks")
        self.size, self.global_batch, self.seed = size, global_batch, seed
        self.start_step, self.rank, self.world, self.steps = start_step, rank, world, steps
        if group < 1:
            raise ValueError(f"group must be >= 1, got {group}")
        self.group = group
        self._perm_epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            if self.group == 1:
                perm = torch.randperm(self.size, generator=g)
            else:  # whole groups in random order; the last group may be short
                groups = torch.randperm(-(-self.size // self.group), generator=g)
                perm = (groups[:, None] * self.group + torch.arange(self.group)).flatten()
                perm = perm[perm < self.size]
            self._perm, self._perm_epoch = perm, epoch
        return self._perm

    def global_indices(self, step: int) -> list[int]:
        """The dataset indices of global batch ``step`` (wrapping over epochs)."""
        start = step * self.global_batch
        out = []
        while len(out) < self.global_batch:
            epoch, offset = divmod(start + len(out), self.size)
            take = min(self.size - offset, self.global_batch - len(out))
            out.extend(self._permutation(epoch)[offset : offset + take].tolist())
        return out

    def __iter__(self) -> Iterator[list[int]]:
        share = self.global_batch // self.world
        step = self.start_step
        while self.steps is None or step < self.start_step + self.steps:
            indices = self.global_indices(step)
            yield indices[self.rank * share : (self.rank + 1) * share]
            step += 1

    def __len__(self) -> int:
        if self.steps is None:
            raise TypeError("an endless batch sampler has no length")
        return self.steps


def make_loader(dataset, batch_sampler, collate, num_workers: int = 0) -> DataLoader:
    """A DataLoader over ``SafeDataset(dataset)``; workers start with passive OpenMP waiting."""
    return DataLoader(
        SafeDataset(dataset),
        batch_sampler=batch_sampler,
        collate_fn=collate,
        num_workers=num_workers,
        persistent_workers=False,
        prefetch_factor=4 if num_workers else None,
        worker_init_fn=_worker_init if num_workers else None,
        generator=_own_generator(),
    )


def _own_generator() -> torch.Generator:
    # A DataLoader draws its workers' base seed when an iterator starts: from the global RNG unless
    # it has a generator. A resumed run starts its loader after restoring that RNG, so the draw
    # would shift every later random number (dropout in a pretrained tower) off the uninterrupted run's.
    return torch.Generator().manual_seed(0)


def _worker_init(_: int) -> None:
    # Data workers do numpy/Pillow work: one thread each, so they never fight the trainer's threads.
    torch.set_num_threads(1)


class Stream(IterableDataset):
    """A streamed dataset's items for a DataLoader: BadRecords ``named``, optionally endless.

    ``repeat``: start a new pass whenever one ends (a pass that yields nothing ends the stream,
    rather than spin). ``skip_batches``: batches of ``batch_size`` items already consumed, dropped
    before anything is collated. A DataLoader with W workers takes batch k from worker k % W (they
    take turns starting with worker 0, and with ``repeat`` none runs dry), so worker w drops its
    first ``len(range(w, skip_batches, W))`` batches; the loader then continues at batch
    ``skip_batches`` only when that is a multiple of W (else drop the rest of a round after
    collation). Sharding over ranks and workers is the wrapped dataset's own job
    (``WdsDataset`` splits its shards).
    """

    def __init__(self, dataset: Iterable, batch_size: int, *, repeat: bool = False, skip_batches: int = 0) -> None:
        super().__init__()
        self.dataset, self.batch_size, self.repeat, self.skip_batches = dataset, batch_size, repeat, skip_batches

    def __iter__(self) -> Iterator:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        drop = len(range(worker, self.skip_batches, workers)) * self.batch_size
        while True:
            empty = True
            for item in self.dataset:
                empty = False
                if drop:
                    drop -= 1
                    continue
                yield named(item) if isinstance(item, BadRecord) else item
            if empty or not self.repeat:
                return


def make_stream_loader(
    dataset: Iterable, batch_size: int, collate, num_workers: int = 0, *, repeat: bool = False, skip_batches: int = 0
) -> DataLoader:
    """A DataLoader of collated batches of ``batch_size`` consecutive stream items (see :class:`Stream`)."""
    return DataLoader(
        Stream(dataset, batch_size, repeat=repeat, skip_batches=skip_batches),
        batch_size=batch_size,
        collate_fn=collate,
        num_workers=num_workers,
        prefetch_factor=4 if num_workers else None,
        worker_init_fn=_worker_init if num_workers else None,
        generator=_own_generator(),
    )


def stream_batches(dataset: Iterable, batch_size: int, collate: Callable, limit: int | None = None) -> Iterator:
    """One pass over the first ``limit`` items of a stream in this process, collated ``batch_size`` at a time."""
    items = itertools.islice(Stream(dataset, batch_size), limit)
    while chunk := list(itertools.islice(items, batch_size)):
        yield collate(chunk)
