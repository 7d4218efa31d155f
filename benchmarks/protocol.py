"""The training protocol shared by ``fusions.py`` and ``ablations.py``.

One *arm* is a model (a fusion name plus ``FusionConfig`` overrides on the tiny preset). Every arm
is trained with the demo recipe (``jarvl/configs/demo.yaml``: optimiser, batch, schedule, gate
initialisation, preset) on the same task data, for the same number of **training samples**
(never minutes), for each seed; then it is scored on held-out questions of the ``test`` split and
of the compositional ``comp`` split, and its cost is measured:

- GFLOPs per sample (forward, FLOPs = 2 x multiply-adds, ``jarvl.profiling``) at the prompt and
  target lengths of a real batch of the task, parameters (with the trained vocabulary);
- activation memory of a training step (bytes autograd saves, at the recipe's batch size);
- training samples/s, measured during the run with the evaluation pauses taken out;
- inference latency of ``generate`` (greedy) on real test inputs at batch 1 and batch 32.

What comes from the recipe and what the protocol sets: the recipe gives the model preset, the
fusion's gate initialisation, optimiser, learning rate, batch size, data workers, the training
set's size and the tokenizer. The protocol replaces the data specs (task and difficulty below),
``run.max_steps`` (the sample budget / batch size), the warm-up (the recipe's, capped at a tenth of
the run), the evaluation schedule and the seed. So an improved demo recipe is inherited as is.

Difficulty defaults (``--min-objects 1 --max-objects 2 --families attribute``): the demo's own
scenes (3-6 objects, five families) sit at the language prior for every fusion within budgets
like these (docs/recipe.md), which would make every comparison a tie between untrained models.
Attribute questions about one of one or two objects ("what color is the square?") need the
question to pick the object and the image to answer it, and tiny JAR leaves the prior on them
within the budget (41% against the text-only 33% after 6.4k samples, climbing; one thread). Pass
``--min-objects 3 --max-objects 6 --families all`` for the demo's scenes. Question families only
apply to VQA; entailment draws its own claims (every kind) from the same scenes.

The text-only baseline reported beside the accuracies is the majority training answer of each
exact prompt: a lower bound of the language prior. On synthetic entailment the words alone settle
2/3 of the labels by construction (a material statement is neutral or contradiction, a plain one
entailment or contradiction), so accuracy near 67% there is the prior, not the image.
"""

from __future__ import annotations

import copy
import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from jarvl.config import apply_overrides
from jarvl.data.concat import record_text
from jarvl.data.registry import DatasetSpec, open_dataset
from jarvl.evaluation.predict import text_only_baseline
from jarvl.profiling import profile_model
from jarvl.train.config import ExperimentConfig
from jarvl.train.logger import read_metrics
from jarvl.train.trainer import Trainer

# Task name -> synthetic data spec without split (``synthetic:TASK``); the registry's tasks.
TASKS = {"vqa": "synthetic:vqa", "entailment": "synthetic:entailment"}
SPLITS = ("test", "comp")  # held-out condition-A questions, and the compositional split (condition B)

# The paper's figures (PAPER.md, Tables 2-4): GFLOPs in its unstated convention, accuracy on
# GQA (and SNLI-VE for Table 3). A TPU-scale model on real data: a shape to compare, not a target.
PAPER_FUSIONS = {
    "concat": {"gflops": 58.4, "gqa": 78.9, "snli_ve": 77.4, "memory_gb": 15.0},
    "perceiver": {"gflops": 40.3, "gqa": 78.2},
    "cotokenization": {"gflops": 43.8, "gqa": 78.5},
    "jar": {"gflops": 38.9, "gqa": 79.1, "snli_ve": 77.9, "memory_gb": 9.0},
}
PAPER_ABLATIONS = {  # knob -> value -> (GFLOPs or None, GQA accuracy)
    "iterations": {1: (34.2, 78.3), 2: (35.5, 78.8), 4: (38.9, 79.1), 8: (42.5, 79.2)},
    "num_tokens": {16: (18.5, 76.5), 32: (28.4, 78.3), 64: (38.9, 79.1), 128: (72.9, 79.2)},
    "resampling": {"latent": (38.9, 79.1), "spatial": (42.5, 78.9)},
    "combine": {"weighted": (38.9, 79.1), "residual": (38.9, 78.7), "none": (38.9, 78.1)},
    "layers": {16: (30.5, 78.3), 32: (38.9, 79.1)},
}


@dataclass
class Arm:
    """One model to train: a fusion and ``FusionConfig`` overrides (e.g. ``{"iterations": 4}``)."""

    label: str
    fusion: str = "jar"
    knobs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Protocol:
    """Everything that is the same for every arm (see the module docstring)."""

    budget_samples: int = 12_800
    seeds: int = 3
    min_objects: int = 1
    max_objects: int = 2
    families: str = "attribute"  # comma-separated, or "all"
    eval_samples: int = 600  # per held-out split (test, comp)
    val_samples: int = 200  # validation questions at each point of the accuracy-vs-time curve
    curve_points: int = 4  # validation evaluations during training (plus the final one)
    minutes_per_run: float = 0.0  # a safety cap on one run's training time; 0: none (runs that hit it are flagged)
    threads: int = 0  # torch threads (0: torch's default)
    latency_repeats: int = 5
    overrides: list[str] = field(default_factory=list)  # extra dotted overrides of the recipe (--set)

    def scene_options(self) -> dict[str, str]:
        """The spec options of the difficulty: ``min_objects``, ``max_objects`` [, ``families``]."""
        q = {"min_objects": str(self.min_objects), "max_objects": str(self.max_objects)}
        return q if self.families == "all" else {**q, "families": self.families}


def recipe() -> ExperimentConfig:
    """The demo recipe, ``jarvl/configs/demo.yaml``, as the experiment every arm starts from."""
    from jarvl.train.config import shipped_recipe

    return shipped_recipe("demo")


def task_specs(task: str, proto: Protocol, train_n: int) -> dict[str, str]:
    """Data spec per split (train, val, test, comp) of ``task`` at the protocol's difficulty."""
    data = DatasetSpec.parse(TASKS[task])  # synthetic:TASK, no split

    def spec(split: str, n: int) -> str:
        return str(data.replace(split=split).with_options({"n": n, **proto.scene_options()}))

    return {"train": spec("train", train_n), "val": spec("val", proto.val_samples), **{s: spec(s, proto.eval_samples) for s in SPLITS}}


def train_size(base: ExperimentConfig, proto: Protocol) -> int:
    """The recipe's training-set size (its first spec's ``n``), at least the budget: runs draw from it without repeats."""
    n = int(DatasetSpec.parse(base.data.train[0]).options.get("n", 100_000)) if base.data.train else 100_000
    return max(n, proto.budget_samples)


def steps_of(proto: Protocol, batch_size: int) -> int:
    """Optimiser steps that hold the sample budget (rounded up to whole batches)."""
    return max(1, math.ceil(proto.budget_samples / batch_size))


def experiment(arm: Arm, task: str, seed: int, proto: Protocol) -> tuple[ExperimentConfig, dict[str, str]]:
    """The recipe with this arm's model, the task's data and the protocol's budget; and the specs."""
    base = apply_overrides(recipe(), proto.overrides)
    specs = task_specs(task, proto, train_size(base, proto))
    steps = steps_of(proto, base.data.batch_size)
    every = max(1, steps // (proto.curve_points + 1)) if proto.curve_points else 0
    cfg = apply_overrides(
        base,
        {
            "model.fusion.name": arm.fusion,
            **{f"model.fusion.{k}": v for k, v in arm.knobs.items()},
            "data.train": [specs["train"]],
            "data.val": [specs["val"]],
            "run.max_steps": steps,
            "run.max_minutes": proto.minutes_per_run,
            "run.eval_every": every,
            "run.eval_every_minutes": 0.0,
            "run.eval_samples": proto.val_samples,
            "run.checkpoint_every": 0,
            "run.log_every": max(1, min(25, steps // 10)),
            "run.seed": seed,
            "run.threads": proto.threads,
            "run.progress": False,
            "optim.warmup_steps": min(base.optim.warmup_steps, max(1, steps // 10)),
        },
    )
    cfg.model.validate()
    return cfg, specs


class TimedTrainer(Trainer):
    """A Trainer that writes no checkpoints and times its evaluations, so training time excludes them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.eval_seconds = 0.0
        self.eval_log: list[dict[str, float]] = []

    def checkpoint(self, step: int, best: bool = False) -> None:
        """No checkpoints: the benchmark scores the model in memory."""

    def evaluate_and_maybe_checkpoint(self, step: int, t0: float):
        """The usual evaluation, with its duration recorded and kept out of the training time."""
        start = time.perf_counter()
        train_s = self.state["elapsed"] - self.eval_seconds
        report = super().evaluate_and_maybe_checkpoint(step, t0)
        took = time.perf_counter() - start
        self.eval_seconds += took
        self.eval_log.append({"step": step, "train_s": train_s, "eval_s": took})
        return report


def generate_latency_ms(trainer: Trainer, data, batch: int, repeats: int) -> float:
    """Median wall time (ms) of ``model.generate`` (greedy) on the first ``batch`` records of ``data``."""
    b = trainer.collate([data[i] for i in range(min(batch, len(data)))]).to(trainer.info.device)
    model = trainer.model
    model.eval()
    times = []
    try:
        with torch.no_grad():
            model.generate(b.images, b.text_ids, b.text_mask)  # warm-up
            for _ in range(repeats):
                start = time.perf_counter()
                model.generate(b.images, b.text_ids, b.text_mask)
                times.append(1000 * (time.perf_counter() - start))
    finally:
        model.train()
    return statistics.median(times)


def train_and_score(arm: Arm, task: str, seed: int, proto: Protocol, run_dir: Path) -> tuple[dict, TimedTrainer, dict]:
    """Train one (arm, task, seed) and score it on the held-out splits.

    Returns the run record (accuracies, samples, samples/s, curve, latencies), the trainer (its
    model trained) and the held-out records per split (for the text-only baseline).
    """
    cfg, specs = experiment(arm, task, seed, proto)
    shutil.rmtree(run_dir, ignore_errors=True)  # metrics.jsonl appends: a stale one would mix runs
    start = time.perf_counter()
    trainer = TimedTrainer(cfg, run_dir)
    summary = trainer.fit()
    train_s = max(1e-9, trainer.state["elapsed"] - sum(e["eval_s"] for e in trainer.eval_log[:-1]))
    timed = {e["step"]: e["train_s"] for e in trainer.eval_log}
    curve = [
        {"step": r["step"], "samples": r["samples"], "train_s": timed.get(r["step"], r["elapsed_s"]), "accuracy": r["accuracy"]}
        for r in read_metrics(run_dir, "eval")
    ]
    scores, records = {}, {}
    for split in SPLITS:
        data = open_dataset(specs[split])
        report = trainer.evaluate(data, limit=len(data))
        records[split] = report.pop("records")
        scores[split] = {"accuracy": report["accuracy"], "per_family": report["per_family"], "n": report["n"]}
    test = open_dataset(specs["test"])
    latency = {f"b{b}": generate_latency_ms(trainer, test, b, proto.latency_repeats) for b in (1, 32)}
    run = {
        "arm": arm.label,
        "fusion": arm.fusion,
        "knobs": arm.knobs,
        "task": task,
        "seed": seed,
        "steps": summary["steps"],
        "samples": summary["samples"],
        "train_s": train_s,
        "samples_per_s": steady_rate(read_metrics(run_dir, "train"), trainer.eval_log) or summary["samples"] / train_s,
        "samples_per_s_overall": summary["samples"] / train_s,
        "capped": summary["samples"] < proto.budget_samples,
        **scores,
        "curve": curve,
        "latency_ms": latency,
        "wall_s": time.perf_counter() - start,
    }
    return run, trainer, records


def steady_rate(train_rows: list[dict], eval_log: list[dict], skip: float = 0.1) -> float | None:
    """Training samples/s after the first ``skip`` of the run (loader start-up, allocator warm-up),
    evaluations excluded: from the logged ``train`` rows (``samples``, ``elapsed_s``) and the timed
    evaluations (an evaluation at step s runs after the row of step s is logged)."""
    if len(train_rows) < 2:
        return None
    last = train_rows[-1]
    first = next((r for r in train_rows[:-1] if r["step"] >= skip * last["step"]), train_rows[0])
    evals = sum(e["eval_s"] for e in eval_log if first["step"] <= e["step"] < last["step"])
    seconds = last["elapsed_s"] - first["elapsed_s"] - evals
    return (last["samples"] - first["samples"]) / seconds if seconds > 0 else None


def measure_cost(trainer: Trainer, arm: Arm, task: str) -> dict:
    """GFLOPs per sample, parameters and training-step memory of the trained model's config, at the
    prompt and target lengths of a real batch (the first validation batch of the recipe's size)."""
    cfg = trainer.cfg
    val = trainer.val_data
    batch = trainer.collate([val[i] for i in range(min(cfg.data.batch_size, len(val)))])
    model_cfg = copy.deepcopy(cfg.model)
    rec = profile_model(
        model_cfg, batch=cfg.data.batch_size, text_len=batch.text_ids.shape[1], target_len=batch.targets.shape[1], timing=False
    ).as_dict()
    f = model_cfg.fusion
    keep = (
        "gflops",
        "gflops_image",
        "gflops_text",
        "gflops_fusion",
        "gflops_decoder",
        "params",
        "params_fusion",
        "activation_mb",
        "step_peak_mb",
        "text_len",
        "target_len",
        "batch",
        "fused_tokens",
    )
    return {
        "arm": arm.label,
        "task": task,
        **{k: rec[k] for k in keep},
        "fusion_config": asdict(f),
        "fusion_layers": f.iterations * f.layers_per_iteration if f.name == "jar" else f.layers,
    }


def text_only(trainer: Trainer, records: dict[str, list[dict]], budget: int) -> dict:
    """The language prior on each held-out split: the majority training answer of each exact prompt,
    from the first ``budget`` training records (as many as a run sees)."""
    data = trainer.train_data
    pairs = [record_text(data, i) for i in range(min(budget, len(data)))]
    return {split: text_only_baseline(pairs, recs)["accuracy"] for split, recs in records.items()}


def mean_std(values: list[float]) -> dict:
    """``{"mean", "std", "n", "values"}``; std is the sample standard deviation (0 for one value)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"mean": None, "std": None, "n": 0, "values": []}
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n": len(vals), "values": vals}


def run_grid(
    arms: list[Arm],
    tasks: list[str],
    proto: Protocol,
    *,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
    after_run: Callable[[dict], None] | None = None,
    results: dict | None = None,
) -> dict:
    """Train every (seed, task, arm), seeds outermost so an interrupted grid has every arm's first seeds.

    ``results`` (``{"runs", "costs", "text_only"}``) is extended in place and returned; costs and
    the text-only baseline are measured once per (arm, task) and per task. ``after_run`` is called
    with the results after each run (to write the figures so far: a stopped grid keeps them).
    """
    results = results if results is not None else {"runs": [], "costs": [], "text_only": {}}
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="jarvl-bench-"))
    t0, done, total = time.perf_counter(), 0, proto.seeds * len(tasks) * len(arms)
    measured: set[tuple[str, str]] = set()
    baselined: set[str] = set()
    try:
        for seed in range(proto.seeds):
            for task in tasks:
                for arm in arms:
                    run_dir = work / f"{task}-{arm.label}-{seed}".replace("=", "_")
                    run, trainer, records = train_and_score(arm, task, seed, proto, run_dir)
                    replace(results["runs"], run, ("arm", "task", "seed"))
                    if (arm.label, task) not in measured:  # once per (arm, task), replacing a merged-in record
                        replace(results["costs"], measure_cost(trainer, arm, task), ("arm", "task"))
                        measured.add((arm.label, task))
                    if task not in baselined:  # once per task, replacing a merged-in one
                        results["text_only"][task] = text_only(trainer, records, proto.budget_samples)
                        baselined.add(task)
                    del trainer
                    if work_dir is None:
                        shutil.rmtree(run_dir, ignore_errors=True)
                    done += 1
                    left = (time.perf_counter() - t0) / done * (total - done) / 60
                    log(
                        f"[{done}/{total}] seed {seed} {task} {arm.label}: test {100 * run['test']['accuracy']:.1f}% "
                        f"comp {100 * run['comp']['accuracy']:.1f}%, {run['samples_per_s']:.0f} samples/s, "
                        f"{run['wall_s']:.0f} s{' (CAPPED by --minutes-per-run)' if run['capped'] else ''}; ~{left:.0f} min left"
                    )
                    if after_run:
                        after_run(results)
    finally:
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return results


def replace(rows: list[dict], row: dict, keys: tuple[str, ...]) -> None:
    """Put ``row`` in ``rows``, replacing any row with the same values at ``keys``."""
    rows[:] = [r for r in rows if any(r.get(k) != row.get(k) for k in keys)] + [row]


def merge(old: dict, new: dict) -> dict:
    """``new``'s runs and costs over ``old``'s (same arm, task, seed: the new one wins)."""
    out = {
        "runs": list(old.get("runs", [])),
        "costs": list(old.get("costs", [])),
        "text_only": {**old.get("text_only", {}), **new.get("text_only", {})},
    }
    for r in new.get("runs", []):
        replace(out["runs"], r, ("arm", "task", "seed"))
    for c in new.get("costs", []):
        replace(out["costs"], c, ("arm", "task"))
    return out


def summarise(results: dict) -> dict[str, dict[str, dict]]:
    """Per task, per arm: mean/std over seeds of the accuracies, speed and latencies, with the cost.

    ``summary[task][arm]`` holds ``test``, ``comp``, ``samples_per_s``, ``train_s``, ``latency_b1``,
    ``latency_b32`` (each ``mean_std``), ``seeds``, ``capped`` and the cost record's fields.
    """
    out: dict[str, dict[str, dict]] = {}
    for r in results["runs"]:
        out.setdefault(r["task"], {}).setdefault(r["arm"], {"runs": []})["runs"].append(r)
    for task, arms in out.items():
        for arm, s in arms.items():
            runs = sorted(s.pop("runs"), key=lambda r: r["seed"])
            cost = next((c for c in results["costs"] if c["arm"] == arm and c["task"] == task), {})
            s.update({k: v for k, v in cost.items() if k not in ("arm", "task")})
            s.update(
                {
                    "fusion": runs[0]["fusion"],
                    "knobs": runs[0]["knobs"],
                    "seeds": [r["seed"] for r in runs],
                    "test": mean_std([r["test"]["accuracy"] for r in runs]),
                    "comp": mean_std([r["comp"]["accuracy"] for r in runs]),
                    "samples_per_s": mean_std([r["samples_per_s"] for r in runs]),
                    "train_s": mean_std([r["train_s"] for r in runs]),
                    "latency_b1": mean_std([r["latency_ms"]["b1"] for r in runs]),
                    "latency_b32": mean_std([r["latency_ms"]["b32"] for r in runs]),
                    "samples": runs[0]["samples"],
                    "capped": any(r["capped"] for r in runs),
                    "curve": mean_curve(runs),
                }
            )
    return out


def mean_curve(runs: list[dict]) -> list[dict]:
    """The validation curve averaged over seeds, point by point (runs evaluate at the same steps)."""
    points = min(len(r["curve"]) for r in runs) if runs else 0
    out = []
    for i in range(points):
        acc = mean_std([r["curve"][i]["accuracy"] for r in runs])
        out.append(
            {
                "samples": runs[0]["curve"][i]["samples"],
                "train_s": statistics.fmean(r["curve"][i]["train_s"] for r in runs),
                "accuracy": acc["mean"],
                "std": acc["std"],
            }
        )
    return out


# ----------------------------------------------------------------------------- formatting


def pct(v: float | None) -> str:
    """0.734 -> '73.4%'; None -> '-'."""
    return "-" if v is None else f"{100 * v:.1f}%"


def pts(v: float | None) -> str:
    """A fraction as percentage points: 0.012 -> '1.2'; None -> '-'."""
    return "-" if v is None else f"{100 * v:.1f}"


def verdict(held: bool | None) -> str:
    """'**yes**' / '**no**' / 'not measured'."""
    return "not measured" if held is None else ("**yes**" if held else "**no**")
