"""Train one run on several local CPU processes (DDP over gloo) from inside Python, as torchrun would.

At the tiny model's shapes a second intra-op thread buys a few percent; a second DDP rank with one
thread each, half the batch per rank, runs both cores at once (``jarvl demo`` measured 1.4x on 2 cores,
docs/recipe.md). ``fit_on_ranks`` spawns the ranks, sets the variables torchrun would set, runs
``Trainer(cfg, run_dir).fit()`` in each and hands back rank 0's summary and every rank's batch hooks.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from pathlib import Path
from typing import Any

import torch.multiprocessing as mp

from jarvl.train.config import ExperimentConfig


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now (for the process group's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def auto_ranks(batch_size: int, cores: int | None = None, min_rank_batch: int = 32) -> int:
    """How many CPU ranks to train on: one per core, while every rank keeps >= ``min_rank_batch`` samples.

    Returns at least 1, and a divisor of ``batch_size`` (the trainer splits the batch evenly).
    """
    cores = cores or os.cpu_count() or 1
    ranks = max(1, min(cores, batch_size // max(1, min_rank_batch)))
    while batch_size % ranks:
        ranks -= 1
    return ranks


def _worker(rank: int, world: int, port: int, cfg: ExperimentConfig, run_dir: str, overwrite: bool, hooks: list, results) -> None:
    os.environ.update(
        {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)}
    )
    from jarvl.train.trainer import Trainer  # imported in the child: the spawned process starts bare

    try:
        summary = Trainer(cfg, run_dir, overwrite=overwrite, batch_hooks=hooks).fit()
    except BaseException as err:  # the parent re-raises rank 0's (or the first) error with its own message
        results.put((rank, None, hooks, err if _picklable(err) else RuntimeError(str(err)), traceback.format_exc()))
        raise SystemExit(1) from None
    results.put((rank, summary, hooks, None, ""))


def _picklable(obj: Any) -> bool:
    import pickle

    try:
        pickle.dumps(obj)
        return True
    except Exception:
        return False


def fit_on_ranks(
    cfg: ExperimentConfig, run_dir: str | Path, ranks: int, *, overwrite: bool = False, batch_hooks: list | None = None
) -> tuple[dict[str, Any], list[list]]:
    """Train ``cfg`` into ``run_dir`` on ``ranks`` local processes (CPU, gloo); ``ranks=1`` runs in this process.

    ``cfg.data.batch_size`` is the global batch (split evenly over the ranks); ``cfg.run.threads`` is per
    rank. ``batch_hooks`` (picklable callables) are copied to every rank and called there on its batches.

    Returns:
        (rank 0's ``Trainer.fit`` summary, the batch hooks of every rank as they ended, rank by rank).

    Raises:
        ValueError: ``ranks`` < 1 or not a divisor of the batch. The first error a rank raised, re-raised here
            (a run-directory or configuration error reads as it would in one process).
    """
    hooks = list(batch_hooks or [])
    if ranks < 1 or cfg.data.batch_size % ranks:
        raise ValueError(f"ranks: {ranks} must be >= 1 and divide data.batch_size {cfg.data.batch_size}")
    if ranks == 1:
        from jarvl.train.trainer import Trainer

        return Trainer(cfg, run_dir, overwrite=overwrite, batch_hooks=hooks).fit(), [hooks]
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    port = free_port()
    procs = [ctx.Process(target=_worker, args=(r, ranks, port, cfg, str(run_dir), overwrite, hooks, results)) for r in range(ranks)]
    for p in procs:
        p.start()
    got: dict[int, tuple] = {}
    try:
        deadline = None  # after a rank's error: how long the others get to report theirs
        while len(got) < ranks and (deadline is None or time.monotonic() < deadline):
            if not results.empty():
                rank, summary, rank_hooks, err, tb = results.get()
                got[rank] = (summary, rank_hooks, err, tb)
                if err is not None and deadline is None:
                    deadline = time.monotonic() + 5.0
            elif not any(p.is_alive() for p in procs):
                break  # every rank has ended, some without a word (killed)
            else:
                procs[0].join(timeout=0.1)
    finally:
        for p in procs:
            p.join(timeout=5 if len(got) == ranks else 0.5)
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
    errors = [(v[2], r, v[3]) for r, v in sorted(got.items()) if v[2] is not None]
    if errors:
        err, rank, tb = errors[0]
        err.add_note(f"(raised on rank {rank} of {ranks}; its traceback:)\n{tb}")
        raise err  # the lowest rank's: rank 0's own message rather than another rank's echo of it
    if len(got) < ranks:
        codes = {r: p.exitcode for r, p in enumerate(procs)}
        raise RuntimeError(
            f"training on {ranks} ranks: rank(s) {sorted(set(range(ranks)) - set(got))} ended without a result (exit codes {codes})"
        )
    return got[0][0], [got[r][1] for r in range(ranks)]
