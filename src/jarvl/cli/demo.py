"""The demo: train tiny JAR on synthetic VQA on the CPU, then show what it learned and what it cost.

Steps: measure throughput and size the schedule to the time budget; train (validation curve on
wall time); score the held-out test and compositional splits against the text-only baseline;
profile GFLOPs and activation memory beside concat's; plot; show test images with answers.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jarvl.blocks.config import ModelConfig, without_unfit_referring
from jarvl.data.loader import make_loader
from jarvl.data.registry import DatasetSpec, open_dataset
from jarvl.evaluation.predict import AnswerTally, exact_match_report, predict_all
from jarvl.profiling import profile_model
from jarvl.train.config import ExperimentConfig, experiment_dict, shipped_recipe
from jarvl.train.logger import read_metrics
from jarvl.train.trainer import Trainer


@dataclass
class DemoOptions:
    """What ``jarvl demo`` runs. ``minutes`` is JAR's training budget; ``compare`` adds concat
    trained on the same number of samples."""

    out: Path = Path("runs/demo")
    minutes: float = 9.0
    compare: bool = False
    test_size: int = 2000
    seed: int = 0
    overrides: list[str] = field(default_factory=list)


def recipe(overrides: list[str]) -> ExperimentConfig:
    """The demo recipe (``jarvl/configs/demo.yaml``) with dotted overrides."""
    return shipped_recipe("demo", overrides)


def recipe_model(fusion: str) -> ModelConfig:
    """The recipe's model with ``fusion``, less the objectives that fusion cannot carry (referring)."""
    model = recipe([]).model
    model.fusion.name = fusion
    return without_unfit_referring(model).validate()


def calibrate_steps(cfg: ExperimentConfig, out: Path, minutes: float) -> tuple[int, float]:
    """Time a few training steps; return (max_steps that fill ``minutes``, samples/s measured)."""
    probe = copy.deepcopy(cfg)  # a copy: the probe's settings must not leak into the real run
    probe.data.val = []
    probe.run.max_steps, probe.run.progress, probe.run.log_every = 14, False, 1
    probe.run.max_minutes = 0.0  # its 14 steps in full: a tiny budget on a busy machine left too few rows to time
    probe.run.eval_every = probe.run.checkpoint_every = 0
    tmp = out / "calibration"
    shutil.rmtree(tmp, ignore_errors=True)
    Trainer(probe, tmp).fit()
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
    steps, rate = calibrate_steps(cfg, out, opts.minutes)
    cfg.run.max_steps = steps
    log(f"measured {rate:.0f} training samples/s: {steps} steps of {cfg.data.batch_size} fill {opts.minutes:g} minutes")
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
        trainer = Trainer(run_cfg, out / name, overwrite=True, batch_hooks=[tally] if i == 0 else [])  # a rerun replaces its runs
        summary = trainer.fit()
        test, test_images = evaluate_split(trainer, "test", opts.test_size)
        comp, _ = evaluate_split(trainer, "comp", opts.test_size)
        if i == 0:
            images = test_images
        results["runs"][name] = {
            "steps": summary["steps"],
            "samples": summary["samples"],
            "train_seconds": summary["elapsed_s"],
            "samples_per_s": summary["samples"] / max(1e-9, summary["elapsed_s"]),
            "test": strip(test),
            "comp": strip(comp),
            "curve": trainer.state["evals"],
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


def evaluate_split(trainer: Trainer, split: str, n: int, shown: int = 8) -> tuple[dict[str, Any], list]:
    """Exact match of the trained model on ``n`` records of a synthetic split (test or comp),
    and the images of the first ``shown`` records (same scene settings as the training data)."""
    scenes = DatasetSpec.parse(trainer.cfg.data.val[0]).without_options("n").options  # the held-out splits share the validation scenes
    data = open_dataset(DatasetSpec("synthetic", "vqa", split, {"n": str(n), **scenes}))
    batches = [list(range(i, min(i + 250, n))) for i in range(0, n, 250)]
    trainer.model.eval()
    records = predict_all(trainer.predict_fn(), make_loader(data, batches, trainer.collate))
    trainer.model.train()
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
