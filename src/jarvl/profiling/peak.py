"""The machine's own matmul peak: what "achieved GFLOP/s" is a fraction of.

A large square matmul is the best case for every BLAS; the highest rate over a few sizes and
repeats, on the current threads and device, is the peak the model's training step is held against.
"""

from __future__ import annotations

import time

import torch


def matmul_peak(dtype: torch.dtype = torch.float32, device: str = "cpu", sizes: tuple[int, ...] = (1024, 2048), repeats: int = 3) -> dict:
    """{"gflop_per_s", "size", "dtype", "device", "threads"}: the best of ``repeats`` timings of an
    n x n @ n x n matmul (2 n^3 FLOPs) over ``sizes``; each timing runs enough products for ~0.2 s."""
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    best, best_size = 0.0, sizes[0]
    for n in sizes:
        a, b = torch.randn(n, n, device=dev).to(dtype), torch.randn(n, n, device=dev).to(dtype)
        a @ b  # warm-up
        sync()
        start = time.perf_counter()
        a @ b
        sync()
        reps = max(1, int(0.2 / max(1e-6, time.perf_counter() - start)))
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            for _ in range(reps):
                a @ b
            sync()
            rate = reps * 2 * n**3 / (time.perf_counter() - start) / 1e9
            if rate > best:
                best, best_size = rate, n
    return {
        "gflop_per_s": best,
        "size": best_size,
        "dtype": str(dtype).removeprefix("torch."),
        "device": str(dev),
        "threads": torch.get_num_threads(),
    }
