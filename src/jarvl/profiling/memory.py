"""Measured memory of a training step: bytes autograd saves for backward, and the process peak."""

from __future__ import annotations

from collections.abc import Callable

import torch


def saved_activation_bytes(model: torch.nn.Module, run: Callable[[], object]) -> int:
    """Bytes of the distinct tensors autograd saves for backward while ``run()`` executes.

    Measured with saved-tensor hooks; storages are counted once however often they are saved,
    and parameters (saved by every linear layer) are excluded: they are not activations.
    """
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in params and ptr != 0:
            seen[ptr] = max(seen.get(ptr, 0), storage.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run()
    return sum(seen.values())


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakRSS:
    """Context manager measuring the process's peak resident memory while it is open (Linux).

    Resets the kernel's high-water mark (``/proc/self/clear_refs``) on entry; ``peak_mb`` is the
    high-water mark reached inside, ``delta_mb`` its rise above the resident size at entry.
    Both are None where the kernel does not allow the reset.
    """

    def __enter__(self) -> PeakRSS:
        self.peak_mb = self.delta_mb = None
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            self._start = _status_kb("VmRSS")
        except OSError:
            self._start = None
        return self

    def __exit__(self, *exc) -> None:
        peak = _status_kb("VmHWM")
        if self._start is not None and peak is not None:
            self.peak_mb = peak / 1024
            self.delta_mb = (peak - self._start) / 1024


def cuda_peak_bytes(run: Callable[[], object], device: torch.device) -> int:
    """Peak CUDA memory allocated by ``run()`` above what was allocated before it."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    run()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before
