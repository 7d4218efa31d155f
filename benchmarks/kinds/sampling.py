"""The ``sampling`` kind: adaptive pre-training data sampling against proportional sampling.

Each arm is a mixture strategy (``label``; ``set``: its parameters, ``data.sampling``). Tiny JAR
(the recipe's model and optimiser) is pre-trained on ``settings.mixture`` with each strategy for
the same number of samples at a constant learning rate after warm-up, so the weights after n
samples are those of a run stopped at n. Snapshots at a few sample counts (a trainer callback,
``on_checkpoint``) and the untrained model are each fine-tuned with one fixed recipe and scored on
held-out questions; with ``finetune_steps: 0`` (a mixture that holds the target task) each
snapshot is scored as it is, by the callback, without a copy. The samples needed: where the strategy's mean curve
first reaches proportional's final mean accuracy, interpolated linearly between snapshots.
``excess_loss``'s reference model (DoReMi's) is the same seed's proportional run.

Metrics for findings (task ``pretraining``): ``accuracy`` over seeds, ``samples_fraction`` (samples
to reach the target / the pre-training budget; proportional's is 1 by definition, inf: never).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.kinds.train import mean_std
from jarvl.data.registry import open_dataset
from jarvl.train.callbacks import TrainerCallback
from jarvl.train.config import build_experiment, shipped_recipe
from jarvl.train.logger import read_metrics
from jarvl.train.trainer import Trainer

MOVING = ("curriculum", "learning_progress", "excess_loss")
MERGE_KEYS = ("mixture", "finetune_train", "held_out", "pretrain_steps", "snapshots", "finetune_steps", "batch_size", "eval_samples")


@dataclass
class Settings:
    mixture: dict[str, str] = field(default_factory=dict)
    finetune_train: str = ""
    held_out: str = ""  # with {n}: the number of questions
    recipe: str = "demo"  # the model and optimiser (lr, weight decay) come from it
    decoder_max_len: int = 32  # captions of 6 objects need ~32 tokens
    seeds: int = 3
    pretrain_steps: int = 240
    snapshots: int = 3
    finetune_steps: int = 64
    batch_size: int = 64
    eval_samples: int = 500
    tokenizer_samples: int = 20000
    threads: int = 0


class KeepSnapshots(TrainerCallback):
    """Copies every checkpoint into ``RUN/snapshots/STEP`` (a run keeps only its last)."""

    def on_checkpoint(self, trainer: Any, step: int, path: Path) -> None:
        shutil.copytree(path, trainer.run_dir / "snapshots" / f"{step:07d}", dirs_exist_ok=True)


class ScoreSnapshots(TrainerCallback):
    """Scores the model at every checkpoint on the first ``n`` records of ``data``: ``scores[step]``."""

    def __init__(self, data: Any, n: int) -> None:
        self.data, self.n, self.scores = data, n, {}

    def on_checkpoint(self, trainer: Any, step: int, path: Path) -> None:
        self.scores[step] = trainer.evaluate(self.data, self.n)["accuracy"]


def _base(st: Settings) -> tuple[dict, dict]:
    from jarvl.config import to_dict

    r = to_dict(shipped_recipe(st.recipe))
    model = dict(r["model"])  # grounding and referring skip the samples without scenes (captions)
    model["decoder"] = {**model["decoder"], "max_len": st.decoder_max_len}
    return model, {"lr": r["optim"]["lr"], "weight_decay": r["optim"]["weight_decay"]}


def pretrain(strategy: str, params: dict, seed: int, st: Settings, run_dir: Path, zero: bool, reference: dict | None) -> dict:
    model, optim = _base(st)
    sampling = {**params, "strategy": strategy, "seed": seed}
    if strategy == "excess_loss" and reference:
        sampling["reference"] = reference
    if strategy == "curriculum":
        sampling["warmup_steps"] = max(1, st.pretrain_steps // 2)
    steps = st.pretrain_steps
    cfg = build_experiment({
        "model": model,
        "data": {"mixture": st.mixture, "sampling": sampling, "val": [], "batch_size": st.batch_size, "tokenizer_samples": st.tokenizer_samples},
        "optim": {**optim, "schedule": "constant", "warmup_steps": max(1, steps // 10)},
        "run": {"max_steps": steps, "eval_every": 0, "checkpoint_every": steps // st.snapshots, "seed": seed,
                "log_every": max(1, steps // 60), "progress": False, "threads": st.threads},
    })  # fmt: skip
    score = ScoreSnapshots(open_dataset(st.held_out.format(n=st.eval_samples)), st.eval_samples) if not st.finetune_steps else None
    trainer = Trainer(cfg, run_dir, overwrite=True, callbacks=[score or KeepSnapshots()])
    if zero:
        trainer.checkpoint(0)
    summary = trainer.fit()
    rows = read_metrics(run_dir, "mixture")
    tail = [r for r in rows if r["step"] > rows[-1]["step"] / 2] if rows else []
    losses: dict[str, list] = {}
    for r in tail:
        for name, v in (r.get("loss") or {}).items():
            losses.setdefault(name, []).append(v)
    return {"samples": summary["samples"], "final_weights": summary["mixture_weights"],
            "final_losses": {k: float(np.mean(v)) for k, v in losses.items()},
            "weights": [{"step": r["step"], **r["weights"]} for r in rows],
            "scores": {} if score is None else dict(sorted(score.scores.items()))}  # fmt: skip


def finetune(init: Path, seed: int, st: Settings, run_dir: Path) -> float:
    model, optim = _base(st)
    steps = st.finetune_steps
    cfg = build_experiment({
        "model": model,
        "data": {"train": [st.finetune_train], "val": [st.held_out.format(n=st.eval_samples)], "batch_size": st.batch_size},
        "optim": {**optim, "warmup_steps": max(1, steps // 10)},
        "run": {"max_steps": steps, "eval_every": 0, "checkpoint_every": 0, "eval_samples": st.eval_samples, "seed": seed,
                "log_every": max(1, steps // 10), "progress": False, "threads": st.threads},
    })  # fmt: skip
    try:
        return Trainer(cfg, run_dir, init_from=str(init), overwrite=True).fit()["final"]["accuracy"]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def run(exp, st: Settings, ctx) -> dict:
    arms = sorted(exp.arms, key=lambda a: a.label != "proportional")  # proportional first: it sets the target and the reference
    xs = [i * st.pretrain_steps // st.snapshots * st.batch_size for i in range(st.snapshots + 1)]
    payload = ctx.old or {"samples": xs, "runs": {}, "zero": {}}
    work = Path(tempfile.mkdtemp(prefix="jarvl-sampling-"))
    try:
        for seed in range(st.seeds):
            for arm in arms:
                ref = payload["runs"].get("proportional", {}).get(str(seed), {}).get("final_losses")
                run_dir = work / f"{arm.label}-{seed}"
                rec = pretrain(
                    arm.label, arm.set, seed, st, run_dir, str(seed) not in payload["zero"], ref if arm.label == "excess_loss" else None
                )
                rec["curve"] = []
                scores = rec.pop("scores") or {int(snap.name): finetune(snap, seed, st, work / "finetune")
                                               for snap in sorted((run_dir / "snapshots").iterdir())}  # fmt: skip
                for step, acc in sorted(scores.items()):
                    if step == 0:
                        payload["zero"][str(seed)] = acc
                    else:
                        rec["curve"].append(acc)
                shutil.rmtree(run_dir, ignore_errors=True)
                payload["runs"].setdefault(arm.label, {})[str(seed)] = rec
                ctx.log(f"seed {seed} {arm.label}: " + ", ".join(f"{100 * a:.1f}%" for a in [payload["zero"][str(seed)], *rec["curve"]]))
                ctx.save(payload)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return payload


def samples_to_reach(xs: list[int], accs: list[float], target: float) -> float | None:
    """Least samples at which the piecewise-linear curve (xs, accs) reaches ``target``; None if never."""
    if accs[0] >= target:
        return float(xs[0])
    for x0, x1, a0, a1 in zip(xs, xs[1:], accs, accs[1:]):
        if a1 >= target:
            return x0 + (x1 - x0) * (target - a0) / (a1 - a0)
    return None


def summary(payload: dict) -> dict:
    """Per strategy: final accuracy over seeds, the mean curve, the samples to reach proportional's final mean."""
    xs, runs, zero = payload["samples"], payload["runs"], payload["zero"]
    seeds = sorted(set.intersection(*(set(r) for r in runs.values()))) if runs else []
    curves = {s: np.mean([[zero[k], *runs[s][k]["curve"]] for k in seeds], axis=0).tolist() for s in runs} if seeds else {}
    target = curves.get("proportional", [None])[-1]
    out = {}
    for s, c in curves.items():
        need = None if target is None else samples_to_reach(xs, c, target)
        out[s] = {"accuracy": {**mean_std([runs[s][k]["curve"][-1] for k in seeds]), "seeds": [int(k) for k in seeds]}, "curve": c,
                  "samples_to_target": need, "samples_fraction": float("inf") if need is None else need / xs[-1],
                  "mean_weights": {n: float(np.mean([w[n] for w in runs[s][seeds[0]]["weights"]])) for n in runs[s][seeds[0]]["final_weights"]}}  # fmt: skip
    if "proportional" in out:
        out["proportional"]["samples_fraction"] = 1.0  # by definition: the target is its own final accuracy
    return {"target": target, "strategies": out}


def values(payload: dict) -> dict:
    return {"pretraining": summary(payload)["strategies"]}


def render(exp, payload: dict, out: Path, stem: str) -> str:
    from jarvl.data.mixture_plot import plot_weights

    s, xs = summary(payload), payload["samples"]
    kilo = lambda n: "not reached" if n is None else f"{n / 1000:.1f}k"  # noqa: E731
    st = exp.settings
    n_eval = st.get("eval_samples", 500)
    se = (s["target"] * (1 - s["target"]) / n_eval) ** 0.5 if s["target"] is not None else float("nan")
    md = ["Mixture: " + ", ".join(f"`{k}` = `{v}`" for k, v in st.get("mixture", {}).items()) + ".\n",
          f"Target: proportional's final accuracy, {100 * (s['target'] or 0):.1f}% (one evaluation's standard error there: {100 * se:.1f} points).\n",
          "| strategy | accuracy | samples to the target | x budget | " + " | ".join(f"after {kilo(x)}" for x in xs) + " | mean weights |",
          "|---|---:|---:|---:|" + "---:|" * len(xs) + "---|"]  # fmt: skip
    for name, r in s["strategies"].items():
        a = r["accuracy"]
        w = "/".join(f"{v:.2f}" for v in r["mean_weights"].values())
        frac = "-" if r["samples_fraction"] is None else f"{r['samples_fraction']:.2f}"
        md.append(f"| {name} | {100 * a['mean']:.1f}% +- {100 * a['std']:.1f} | {kilo(r['samples_to_target'])} | {frac} | "
                  + " | ".join(f"{100 * v:.1f}%" for v in r["curve"]) + f" | {w} |")  # fmt: skip
    for name in MOVING:
        seed0 = payload["runs"].get(name, {}).get("0")
        if seed0 and seed0["weights"]:
            png = f"{stem}_weights_{name}.png"
            names = list(seed0["final_weights"])
            plot_weights([{k: r[k] for k in names} for r in seed0["weights"]], out / png, steps=[r["step"] for r in seed0["weights"]],
                         title=f"{name}: mixture weights (seed 0)")  # fmt: skip
            md.append(f"\n![{png}]({png})")
    return "\n".join(md) + "\n"


def merge(old: dict, new: dict) -> dict:
    """Both payloads' runs; a (strategy, seed) in ``new`` replaces the same one in ``old``."""
    runs = {arm: dict(seeds) for arm, seeds in old.get("runs", {}).items()}
    for arm, seeds in new["runs"].items():
        runs.setdefault(arm, {}).update(seeds)
    return {"samples": new["samples"], "runs": runs, "zero": {**old.get("zero", {}), **new["zero"]}}
