"""The training batches ``Trainer.fit`` steps through: this rank's collated ``Batch``es, resumable by step.

Two paths, chosen by the datasets of ``data.train``:

* **random access** (every map-style reader: vqa2, gqa, snli-ve, coco-captions, jsonl, synthetic):
  ``ResumableBatchSampler`` cuts global batches from per-epoch permutations; batch ``s`` is a pure
  function of (seed, s), so resuming at step ``s`` is exact whatever the number of workers.
* **streamed** (``IterableDataset``: ``wds``): items in stream order, ``batch_size / world`` per
  rank. Each rank reads its own shards and each DataLoader worker its own share of them (the
  reader splits them); the stream is repeated endlessly, so every rank steps exactly ``steps``
  batches and none waits forever in an all-reduce for a rank that ran dry. Resuming at step ``s``
  reads and drops the first ``s`` batches of every rank (pixels are decoded, nothing is
  collated): the same batches follow **only when the shard order is deterministic** (no ``shuffle``
  or a fixed ``seed``, the same shard list) and the number of ranks and workers is unchanged.
  Every pass reads the shards in the same order.

Bad records are never fatal here: they reach the ``Collator``, which drops them and tallies them in
``Batch.seen`` / ``Batch.skipped`` for the trainer's ``SkipStats``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from torch.utils.data import ChainDataset, IterableDataset

from jarvl.data.collate import Batch, Collator
from jarvl.data.loader import ResumableBatchSampler, make_loader, make_stream_loader


@dataclass
class TrainBatches:
    """This rank's batches for steps ``start_step, start_step + 1, ...`` (iterate it once).

    Resuming needs nothing beyond the step counter the trainer already checkpoints: building
    again with ``start_step=step`` continues where the interrupted run stopped. ``streamed`` tells
    which path was taken (see the module doc for when the streamed resume is exact).
    """

    batches: Iterator[Batch]
    streamed: bool

    def __iter__(self) -> Iterator[Batch]:
        return self.batches


def build_train_batches(
    data,
    collate: Collator,
    *,
    batch_size: int,
    seed: int,
    start_step: int,
    steps: int,
    rank: int = 0,
    world: int = 1,
    num_workers: int = 0,
) -> TrainBatches:
    """``steps`` collated batches of this rank's share of global batches ``start_step``, ...

    Args:
        data: the training data: a reader, or ``jarvl.data.concat.ConcatDataset`` of readers
            (all random-access, or all streamed).
        collate: turns a list of ``Sample | BadRecord`` into a ``Batch``.
        batch_size: the global batch (all ranks); each rank collates ``batch_size // world``.
        seed: the permutation seed (random-access path). rank, world: this process's share.
        num_workers: DataLoader workers (streamed: at most one per shard of this rank).
    """
    readers = list(getattr(data, "datasets", [data]))
    streams = [d for d in readers if isinstance(d, IterableDataset)]
    if not streams:
        sampler = ResumableBatchSampler(len(data), batch_size, seed, start_step, rank, world, steps=steps, group=group_size(data))
        return TrainBatches(iter(make_loader(data, sampler, collate, num_workers)), streamed=False)
    if len(streams) != len(readers):
        raise ValueError("data.train mixes streamed (wds) and random-access datasets; train on one kind at a time")
    if batch_size % world:
        raise ValueError(f"global batch {batch_size} is not divisible by {world} ranks")
    workers = num_workers
    if all(hasattr(d, "shards") for d in streams):
        shards = max(len(d.shards[rank::world]) for d in streams)  # as webdataset's split_by_node deals them
        if not shards:
            raise ValueError(f"rank {rank} of {world} has no shard to read in data.train (need at least one shard per rank)")
        # A worker without a shard would end at once and change which worker serves which batch.
        workers = min(num_workers, shards)
    stream = streams[0] if len(streams) == 1 else ChainDataset(streams)
    # Workers take turns from worker 0: they skip whole rounds unread; the rest of a round is collated and dropped.
    rounds = start_step - start_step % max(1, workers)
    loader = make_stream_loader(stream, batch_size // world, collate, workers, repeat=True, skip_batches=rounds)
    return TrainBatches(_take(loader, start_step - rounds, steps), streamed=True)


def group_size(data) -> int:
    """How many consecutive indices of ``data`` belong together (``group_size``, e.g. questions per
    image); 1 for a concatenation of several readers, whose offsets would cut their groups."""
    readers = getattr(data, "datasets", [data])
    return int(getattr(readers[0], "group_size", 1)) if len(readers) == 1 else 1


def _take(loader, drop: int, steps: int) -> Iterator[Batch]:
    count = 0
    for batch in itertools.islice(loader, drop, drop + steps):
        count += 1
        yield batch
    if count < steps:
        raise ValueError(f"the training stream ran dry after {count} batches: its shards hold no samples")


class MixtureBatches:
    """Each step's batch from one dataset of a mixture, chosen by a ``MixtureSampler``.

    Every dataset has its own resumable stream of global batches (seeded apart); ``consumed[name]``
    counts how many it has served, so a resumed run restarts each stream where it stopped and,
    with the sampler's saved state, draws exactly the same schedule. Every DDP rank asks the
    sampler with the same step and the same all-reduced losses, so all ranks pick the same dataset.
    """

    def __init__(
        self,
        datasets: dict,
        sampler,
        collate: Collator,
        *,
        batch_size: int,
        seed: int,
        start_step: int,
        steps: int,
        consumed: dict[str, int],
        rank: int = 0,
        world: int = 1,
        num_workers: int = 0,
    ) -> None:
        self.datasets, self.sampler, self.collate = datasets, sampler, collate
        self.batch_size, self.seed, self.rank, self.world, self.workers = batch_size, seed, rank, world, num_workers
        self.start_step, self.steps = start_step, steps
        self.consumed = {name: int(consumed.get(name, 0)) for name in datasets}
        self._iters: dict[str, Iterator[Batch]] = {}

    def _stream(self, name: str) -> Iterator[Batch]:
        if name not in self._iters:
            index = list(self.datasets).index(name)
            data = self.datasets[name]
            sampler = ResumableBatchSampler(
                len(data),
                self.batch_size,
                self.seed * 7919 + index,
                self.consumed[name],
                self.rank,
                self.world,
                steps=None,
                group=group_size(data),
            )
            self._iters[name] = iter(make_loader(data, sampler, self.collate, self.workers))
        return self._iters[name]

    def __iter__(self) -> Iterator[Batch]:
        for step in range(self.start_step, self.start_step + self.steps):
            name = self.sampler.choose(step)
            batch = next(self._stream(name))
            self.consumed[name] += 1
            batch.source = name
            yield batch
