"""The demo: train tiny JAR on synthetic VQA on the CPU, then show what it learned and what it cost.

Steps: measure throughput and size the schedule to the time budget; train (validation curve on
wall time); score the held-out test and compositional splits against the text-only baseline;
profile GFLOPs and activation memory beside concat's; plot; show test images with answers.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jarvl.blocks.config import ModelConfig, without_unfit_referring
from jarvl.checkpoint_layout import checkpoint_path
from jarvl.data.loader import make_loader
from jarvl.data.registry import DatasetSpec, open_dataset
from jarvl.evaluation.predict import AnswerTally, exact_match_report, predict_all
from jarvl.inference import Predictor
from jarvl.profiling import profile_model
from jarvl.train.config import ExperimentConfig, experiment_dict, shipped_recipe
from jarvl.train.launch import auto_ranks, fit_on_ranks
from jarvl.train.logger import read_metrics


@dataclass
class DemoOptions:
    """What ``jarvl demo`` runs. ``minutes`` is JAR's training budget; ``compare`` adds concat
    trained on the same number of samples."""

    out: Path = Path("runs/demo")
    minutes: float = 9.0
    compare: bool = False
    test_size: int = 2000
    seed: int = 0
    ranks: int = 0  # DDP ranks on the CPU cores (0: one per core, each with >= 32 samples of the batch)
    overrides: list[str] = field(default_factory=list)


def recipe(overrides: list[str]) -> ExperimentConfig:
    """The demo recipe (``jarvl/configs/demo.yaml``) with dotted overrides."""
    return shipped_recipe("demo", overrides)


def recipe_model(fusion: str) -> ModelConfig:
    """The recipe's model with ``fusion``, less the objectives that fusion cannot carry (referring)."""
    model = recipe([]).model
    model.fusion.name = fusion
    return without_unfit_referring(model).validate()


def place_ranks(cfg: ExperimentConfig, ranks: int) -> int:
    """The ranks to train on (``ranks``, or ``auto_ranks`` when 0) and, unless the recipe sets
    ``run.threads``, the cores shared out between them (one thread each on 2 cores)."""
    ranks = ranks or auto_ranks(cfg.data.batch_size)
    if not cfg.run.threads:
        cfg.run.threads = max(1, (os.cpu_count() or 1) // ranks)
    return ranks


def calibrate_steps(cfg: ExperimentConfig, out: Path, minutes: float, ranks: int = 1) -> tuple[int, float]:
    """Time a few training steps on ``ranks`` processes; return (max_steps that fill ``minutes``, samples/s measured)."""
    probe = copy.deepcopy(cfg)  # a copy: the probe's settings must not leak into the real run
    probe.data.val = []
    probe.run.max_steps, probe.run.progress, probe.run.log_every = 14, False, 1
    probe.run.max_minutes = 0.0  # its 14 steps in full: a tiny budget on a busy machine left too few rows to time
    probe.run.eval_every = probe.run.checkpoint_every = 0
    tmp = out / "calibration"
    shutil.rmtree(tmp, ignore_errors=True)
    fit_on_ranks(probe, tmp, ranks)
    rows = read_metrics(tmp, "train")[4:]  # the first steps pay for warm-up of the loader and allocator
    shutil.rmtree(tmp, ignore_errors=True)
    rate = sum(r["samples_per_s"] for r in rows) / len(rows)
    # 0.93: evaluation pauses (about a second a minute) come out of the same budget.
    return max(50, int(0.93 * rate * minutes * 60 / cfg.data.batch_size)), rate


def run_demo(opts: DemoOptions, log=print) -> dict[str, Any]:
    """Run the demo; returns (and writes to ``out/demo_results.json``) every figure it prints."""
    t_start = time.perf_counter()
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = recipe(opts.overrides + [f"run.seed={opts.seed}", f"run.max_minutes={opts.minutes}"])
    ranks = place_ranks(cfg, opts.ranks)
    steps, rate = calibrate_steps(cfg, out, opts.minutes, ranks)
    cfg.run.max_steps = steps
    on = f" on {ranks} DDP ranks x {cfg.run.threads} thread(s)" if ranks > 1 else ""
    log(f"measured {rate:.0f} training samples/s{on}: {steps} steps of {cfg.data.batch_size} fill {opts.minutes:g} minutes")
    runs = {cfg.model.fusion.name: cfg}
    if opts.compare:
        other = copy.deepcopy(cfg)
        other.model = recipe_model("concat")
        runs["concat"] = other
    results: dict[str, Any] = {"runs": {}}
    tally = AnswerTally()  # the text-only baseline, counted from JAR's training batches
    for i, (name, run_cfg) in enumerate(runs.items()):
        if i:  # the comparison gets the same sample budget, whatever time it takes
            run_cfg.run.max_minutes = 0.0
            run_cfg.run.max_steps = results["runs"][next(iter(runs))]["steps"]
        log(f"training {name} ({run_cfg.model.preset}) ...")
        # A rerun replaces its runs; each rank counts its own share of JAR's batches, merged here.
        summary, rank_hooks = fit_on_ranks(run_cfg, out / name, ranks, overwrite=True, batch_hooks=[AnswerTally()] if i == 0 else [])
        if i == 0:
            for (rank_tally,) in rank_hooks:
                tally.merge(rank_tally)
        predictor = Predictor(checkpoint_path(out / name, "last"))  # the weights the run ended with
        test, test_images = evaluate_split(predictor, run_cfg, "test", opts.test_size)
        comp, _ = evaluate_split(predictor, run_cfg, "comp", opts.test_size)
        if i == 0:
            images = test_images
        results["runs"][name] = {
            "steps": summary["steps"],
            "samples": summary["samples"],
            "train_seconds": summary["elapsed_s"],
            "samples_per_s": summary["samples"] / max(1e-9, summary["elapsed_s"]),
            "test": strip(test),
            "comp": strip(comp),
            "ranks": ranks,
            "threads_per_rank": run_cfg.run.threads,
            "curve": [{k: v for k, v in row.items() if k != "kind"} for row in read_metrics(out / name, "eval")],
            "examples": test["records"][:8],
        }
        if i == 0:
            results["text_only"] = strip(tally.report(test["records"]))
    main = next(iter(runs))
    prof = {f: profile_model(recipe_model(f), batch=8, timing=False).as_dict() for f in (main, "concat")}
    results["profile"] = prof
    results["gflops_ratio"] = prof[main]["gflops"] / prof["concat"]["gflops"]
    results["activation_ratio"] = prof[main]["activation_mb"] / prof["concat"]["activation_mb"]
    results["wall_seconds"] = time.perf_counter() - t_start
    results["recipe"] = experiment_dict(cfg)
    make_plots(results, out, images)
    results["wall_seconds"] = time.perf_counter() - t_start
    (out / "demo_results.json").write_text(json.dumps(results, indent=1))
    return results


def strip(report: dict[str, Any]) -> dict[str, Any]:
    """A report without its per-record list."""
    return {k: v for k, v in report.items() if k != "records"}


def evaluate_split(predictor: Predictor, cfg: ExperimentConfig, split: str, n: int, shown: int = 8) -> tuple[dict[str, Any], list]:
    """Exact match of a trained model on ``n`` records of a synthetic split (test or comp),
    and the images of the first ``shown`` records (the scene settings of ``cfg``'s validation data)."""
    scenes = DatasetSpec.parse(cfg.data.val[0]).without_options("n").options  # the held-out splits share the validation scenes
    data = open_dataset(DatasetSpec("synthetic", "vqa", split, {"n": str(n), **scenes}))
    batches = [list(range(i, min(i + 250, n))) for i in range(0, n, 250)]
    records = predict_all(predictor.predict_batch, make_loader(data, batches, predictor.collate))
    return {**exact_match_report(records), "records": records}, [data[i].image for i in range(shown)]


def make_plots(results: dict[str, Any], out: Path, images: list) -> None:
    """accuracy_vs_time.png and examples.png in ``out``; ``images`` of the first test records."""
    from jarvl.cli.plots import plot_curves, plot_examples

    curves = {name: r["curve"] for name, r in results["runs"].items()}
    text_only = results.get("text_only", {}).get("accuracy")
    baseline = None if text_only is None else ("text-only, test questions", text_only)
    plot_curves(curves, out / "accuracy_vs_time.png", title="synthetic VQA, tiny model, 2 CPU cores", baseline=baseline)
    main = next(iter(results["runs"]))
    examples = [{**ex, "image": img} for ex, img in zip(results["runs"][main]["examples"], images)]
    plot_examples(examples, out / "examples.png")
    results["plots"] = {"curve": str(out / "accuracy_vs_time.png"), "examples": str(out / "examples.png")}
