"""Training speed, measured through the library: what the ``speed`` kind (``kinds/speed.py``) runs.

- ``experiment(model, overrides, ...)``: the config a speed measurement trains: ``demo`` (the demo
  recipe's model, ``src/jarvl/configs/demo.yaml``) or ``paper`` (the tiny preset with the paper's
  plain fusion), on the demo task's scenes, with the arm's dotted overrides;
- ``trainer_rate``: samples/s of the real training loop (loader, step, logging) from its logged rows;
- ``pipeline_rate``: samples/s the data loader delivers with nothing else running;
- ``step_rate``: questions/s of forward + backward + AdamW on a batch in memory, optionally with
  several questions per image (each image encoded once, ``image_index``) or on one thread;
- ``train_flops_per_sample``: forward + backward FLOPs of one step (``torch.utils.flop_counter``);
- ``bf16_peak``: the bf16 matmul peak where the CPU computes bf16 natively.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import peer_fusions  # noqa: F401  (registers the peers as fusions)
from jarvl.blocks.config import without_unfit_referring
from jarvl.config import apply_overrides
from jarvl.data.loader import ResumableBatchSampler, make_loader
from jarvl.profiling.flops import flop_counter
from jarvl.profiling.peak import matmul_peak
from jarvl.train.config import ExperimentConfig, build_experiment, shipped_recipe
from jarvl.train.logger import read_metrics
from jarvl.train.optim import make_optimizer
from jarvl.train.trainer import Trainer

MODELS = ("demo", "paper")


def experiment(model: str, overrides: dict, *, batch: int, steps: int, workers: int, threads: int, scene: str,
               tokenizer_samples: int, device: str = "cpu") -> ExperimentConfig:  # fmt: skip
    """The experiment a speed measurement trains: ``model`` (``demo`` or ``paper``), the arm's
    ``overrides``, ``steps`` steps of ``batch`` on ``synthetic:vqa`` scenes ``scene`` (``min_objects=3&...``)."""
    if model not in MODELS:
        raise ValueError(f"speed: task {model!r} is not a model; valid: {', '.join(MODELS)}")
    base = shipped_recipe("demo") if model == "demo" else build_experiment({}, [])
    fixed = {
        "data.batch_size": batch,
        "data.num_workers": workers,
        "data.train": [f"synthetic:vqa:train?n=100000&{scene}"],
        "data.val": [],
        "data.tokenizer_samples": tokenizer_samples,
        "run.max_steps": steps,
        "run.log_every": max(1, steps // 8),
        "run.eval_every": 0,
        "run.checkpoint_every": 0,
        "run.max_minutes": 0,
        "run.eval_every_minutes": 0,
        "run.progress": False,
        "run.threads": threads,
        "run.device": device,
    }
    cfg = apply_overrides(base, {**fixed, **overrides})
    without_unfit_referring(cfg.model)  # another fusion runs the recipe without what only jar carries, as in protocol.py
    cfg.model.validate()
    return cfg


def trainer_rate(cfg: ExperimentConfig, skip: float = 0.25) -> float:
    """Samples/s of the real training loop; the first ``skip`` of its logged rows (loader start-up,
    allocator warm-up, and compilation under ``run.compile``) left out."""
    tmp = Path(tempfile.mkdtemp())
    try:
        Trainer(cfg, tmp).fit()
        rows = read_metrics(tmp, "train")
        rows = rows[int(len(rows) * skip) :]
        return sum(r["samples_per_s"] for r in rows) / len(rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def built(cfg: ExperimentConfig) -> tuple[Trainer, object]:
    """A trainer of ``cfg`` (fresh model, its data and collate; nothing trained) and one collated training batch."""
    tmp = Path(tempfile.mkdtemp())
    try:
        trainer = Trainer(cfg, tmp)
        trainer.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sampler = ResumableBatchSampler(len(trainer.train_data), cfg.data.batch_size, 0, steps=1)
    return trainer, next(iter(make_loader(trainer.train_data, sampler, trainer.collate, 0))).to(trainer.info.device)


def pipeline_rate(trainer: Trainer, batches: int, workers: int) -> float:
    """Samples/s the loader (synthetic drawing, tokenising, collate) delivers with nothing else running."""
    sampler = ResumableBatchSampler(len(trainer.train_data), trainer.cfg.data.batch_size, 0, steps=batches + 2)
    loader = iter(make_loader(trainer.train_data, sampler, trainer.collate, workers))
    next(loader), next(loader)  # worker start-up
    start = time.perf_counter()
    n = sum(len(next(loader)) for _ in range(batches))
    return n / (time.perf_counter() - start)


def step_rate(trainer: Trainer, batch, *, steps: int, per_image: int = 1, threads: int | None = None) -> float:
    """Questions/s of forward + backward + AdamW on ``batch`` in memory, ``per_image`` questions
    sharing each image (encoded once, ``image_index``), on ``threads`` torch threads (default: as set)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    model, opt, n = trainer.model, make_optimizer(trainer.model, trainer.cfg.optim), len(batch)
    index = torch.arange(n // per_image, device=batch.images.device).repeat_interleave(per_image)
    images = batch.images[: n // per_image]
    grid = None if batch.grid_targets is None else batch.grid_targets[: n // per_image]
    model.train()

    def step():
        model(images, batch.text_ids, batch.text_mask, batch.targets, index, grid_targets=grid, **supervision(batch)).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    try:
        step()
        sync(batch.images.device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync(batch.images.device)
        return steps * n / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)


def supervision(batch) -> dict:
    """The per-text targets the trainer's step passes the model (referring: cells, phrases, directions)."""
    return {"referents": batch.referents, "phrases": batch.phrases, "directions": batch.directions}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_flops_per_sample(trainer: Trainer, batch) -> float:
    """Forward + backward FLOPs of one training step on ``batch``, per sample."""
    model = trainer.model
    with flop_counter() as counter:
        out = model(batch.images, batch.text_ids, batch.text_mask, batch.targets, grid_targets=batch.grid_targets, **supervision(batch))
        out.loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(batch)


def bf16_peak(fp32: dict, device: str = "cpu") -> dict | None:
    """The bf16 matmul peak where the device computes bf16 natively (a GPU; AVX512-BF16 / AMX), else
    None: without it oneDNN emulates bf16 at a small fraction of the fp32 rate (1 GFLOP/s on AVX2)."""
    probe = matmul_peak(torch.bfloat16, device, sizes=(256,), repeats=1)
    if probe["gflop_per_s"] < 0.5 * fp32["gflop_per_s"]:
        return None
    return matmul_peak(torch.bfloat16, device)
