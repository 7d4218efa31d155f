"""torchrun/DDP helpers: the same entry point runs single-process or distributed (``RANK`` set)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    """This process's place: rank, world size, device, and whether it is the main process."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """True on rank 0 (the process that logs and writes checkpoints)."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world > 1


def setup(device: str = "auto") -> DistInfo:
    """Initialise the process group when launched by torchrun (gloo on CPU, nccl on CUDA)."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local = int(os.environ.get("LOCAL_RANK", 0))
    from jarvl.devices import resolve_device

    dev = resolve_device(device)  # an unknown or absent device: a clear error before anything starts
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world, local, dev)


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """Sum a few floats over all ranks (identity in one process)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_flags(flags: list[bool], info: DistInfo) -> list[bool]:
    """Rank 0's decisions, on every rank (stop on wall time, evaluate now, ...)."""
    if not info.enabled:
        return list(flags)
    t = torch.tensor([1 if f else 0 for f in flags])
    dist.broadcast(t, 0)
    return [bool(v) for v in t.tolist()]


def broadcast_object(obj, info: DistInfo):
    """Rank 0's picklable ``obj`` (a string, a small dict), on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, 0)
    return box[0]


def barrier(info: DistInfo) -> None:
    """Wait for every rank."""
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    """Tear down the process group."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
