"""AdamW parameter groups and the learning-rate schedule."""

from __future__ import annotations

import math

import torch

from jarvl.blocks.layers import tanh_gates
from jarvl.train.config import OptimConfig

# Parameters that are not weight matrices: no weight decay (positions, queries, modality tags).
_NO_DECAY_SUFFIXES = ("pos", "queries", "latents", "modality", "combine_weights")


def param_groups(model: torch.nn.Module, cfg: OptimConfig) -> list[dict]:
    """Two groups: decayed weight matrices; everything else (biases, norms, gates, embeddings of position).

    Gates get decay only with ``cfg.gate_weight_decay``: decay on tanh(a) at a = 0 holds the
    image pathway shut (measured: |tanh a| < 0.005 after 570 steps in an early trial).
    """
    decay, no_decay = [], []
    gates = {id(g.gate) for g in tanh_gates(model).values()}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_gate = id(p) in gates
        if (p.ndim >= 2 and not name.endswith(_NO_DECAY_SUFFIXES)) or (is_gate and cfg.gate_weight_decay):
            decay.append(p)
        else:
            no_decay.append(p)
    return [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`."""
    # The fused kernel on CPU and CUDA: one pass over each tensor, deterministic (bitwise resume holds).
    # On CPU it is ~3x faster than the single-tensor loop (8 vs 28 ms a step for the 2M-parameter tiny
    # model, 2 threads); on CUDA a per-tensor loop is hundreds of small launches per step.
    return torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=True)


def lr_at(progress_steps: float, total_steps: float, cfg: OptimConfig) -> float:
    """Learning rate after ``progress_steps`` of ``total_steps``: linear warm-up, then cosine or constant."""
    if cfg.warmup_steps and progress_steps < cfg.warmup_steps:
        return cfg.lr * (progress_steps + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    span = max(1.0, total_steps - cfg.warmup_steps)
    t = min(1.0, max(0.0, (progress_steps - cfg.warmup_steps) / span))
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * t))
