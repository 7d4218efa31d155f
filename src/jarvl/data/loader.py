"""Deterministic, resumable batching: the batch at step s is a pure function of (seed, s).

Global batches are cut from per-epoch permutations seeded by (seed, epoch); under DDP each rank
takes its contiguous share of every global batch, so the data seen is the same whatever the
number of ranks, and a resumed run continues with exactly the batch it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from jarvl.data.errors import BadRecord


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
            return bad


class ResumableBatchSampler(Sampler[list[int]]):
    """Yields this rank's indices of global batches ``start_step``, ``start_step + 1``, ...

    Args:
        size: dataset length. global_batch: samples per optimiser step over all ranks.
        seed: permutation seed. start_step: first global batch to yield (resume).
        rank, world: this process's share. steps: how many batches to yield (None = forever).
    """

    def __init__(self, size: int, global_batch: int, seed: int, start_step: int = 0, rank: int = 0, world: int = 1, steps: int | None = None) -> None:
        if size <= 0:
            raise ValueError("cannot sample batches from an empty dataset")
        if global_batch % world:
            raise ValueError(f"global batch {global_batch} is not divisible by {world} ranks")
        self.size, self.global_batch, self.seed = size, global_batch, seed
        self.start_step, self.rank, self.world, self.steps = start_step, rank, world, steps
        self._perm_epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(self.size, generator=g), epoch
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
    )


def _worker_init(_: int) -> None:
    # Data workers do numpy/Pillow work: one thread each, so they never fight the trainer's threads.
    torch.set_num_threads(1)
