"""What the suite measures beside accuracy: FLOPs, memory, speed and latency, on ``jarvl.profiling``.

- ``cost(model_cfg, batch, text_len, target_len)``: GFLOPs per sample (forward, FLOPs = 2 x
  multiply-adds), parameters, activation memory of a training step (bytes autograd saves) and the
  step's peak, from ``jarvl.profiling.profile_model`` in this process (no timing);
- ``profile_fresh(requests, jobs)``: full profile records, each in a fresh spawned process so its
  peak memory is its own (as ``jarvl profile`` does);
- ``steady_rate``: training samples/s from a run's logged rows, evaluation pauses and the first
  tenth of the run (start-up) excluded;
- ``generate_latency_ms``: median wall time of greedy ``generate`` on real inputs.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import torch

COST_KEYS = ("gflops", "gflops_image", "gflops_text", "gflops_fusion", "gflops_decoder", "params", "params_fusion",
             "activation_mb", "step_peak_mb", "image_tokens", "text_len", "target_len", "batch", "fused_tokens")  # fmt: skip


def cost(model_cfg, *, batch: int, text_len: int, target_len: int, device: str = "cpu") -> dict:
    """The ``COST_KEYS`` of ``model_cfg`` (a ``ModelConfig``) at these lengths; no timing."""
    from jarvl.profiling import profile_model

    rec = profile_model(model_cfg, batch=batch, text_len=text_len, target_len=target_len, timing=False, device=device).as_dict()
    return {k: rec[k] for k in COST_KEYS}


def model_config(preset: str, overrides: dict):
    """The preset's ``ModelConfig`` with dotted overrides (``fusion.name``, ``vision.image_size``), validated."""
    from jarvl.config import apply_overrides
    from jarvl.models import get_preset

    return apply_overrides(get_preset(preset), overrides).validate()


def _profile_one(preset: str, overrides: dict, kwargs: dict) -> dict:
    from jarvl.profiling import profile_model

    return profile_model(model_config(preset, overrides), **kwargs).as_dict()


def profile_fresh(requests: list[dict], jobs: int = 1, fresh: bool = True, log=print) -> list[dict]:
    """Profile every request ``{"label", "preset", "overrides", "kwargs"}`` in spawned processes,
    ``jobs`` at a time (``fresh``: one process per record, so each peak is its own); the records in
    order, each with ``label``, ``overrides`` and ``wall_s`` added."""
    ctx = multiprocessing.get_context("spawn")
    out = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, max_tasks_per_child=1 if fresh else None) as pool:
        futures = [pool.submit(_profile_one, r["preset"], r["overrides"], r["kwargs"]) for r in requests]
        last = time.perf_counter()
        for i, (r, fut) in enumerate(zip(requests, futures)):
            rec = fut.result()
            now = time.perf_counter()
            rec.update(label=r["label"], overrides=r["overrides"], wall_s=round(now - last, 1))
            last = now
            out.append(rec)
            log(f"[{i + 1}/{len(requests)}] {r['label']:28s} "
                f"{rec['gflops']:8.3f} GF {rec['activation_mb']:8.1f} MB ({rec['wall_s']} s)")  # fmt: skip
    return out


def steady_rate(train_rows: list[dict], eval_log: list[dict], skip: float = 0.1) -> float | None:
    """Training samples/s after the first ``skip`` of the run, evaluations excluded, from the logged
    ``train`` rows (``samples``, ``elapsed_s``) and ``EvalTimes.log`` (an evaluation at step s runs
    after the row of step s is logged); None with fewer than two rows."""
    if len(train_rows) < 2:
        return None
    last = train_rows[-1]
    first = next((r for r in train_rows[:-1] if r["step"] >= skip * last["step"]), train_rows[0])
    evals = sum(e["eval_s"] for e in eval_log if first["step"] <= e["step"] < last["step"])
    seconds = last["elapsed_s"] - first["elapsed_s"] - evals
    return (last["samples"] - first["samples"]) / seconds if seconds > 0 else None


def generate_latency_ms(model, collate, records: list, device, repeats: int) -> float:
    """Median ms of ``model.generate`` (greedy) on ``records`` as one batch, after one warm-up."""
    b = collate(records).to(device)
    model.eval()
    times = []
    try:
        with torch.no_grad():
            model.generate(b.images, b.text_ids, b.text_mask)
            for _ in range(repeats):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                model.generate(b.images, b.text_ids, b.text_mask)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times.append(1000 * (time.perf_counter() - start))
    finally:
        model.train()
    return statistics.median(times)
