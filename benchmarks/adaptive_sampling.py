"""Adaptive pre-training data sampling: does any strategy beat proportional sampling?

Pre-trains tiny JAR on a synthetic mixture made like real pre-training data, with every mixture
strategy and the same number of pre-training samples, then fine-tunes each on synthetic VQA with
one fixed recipe and evaluates it on held-out questions (several seeds):

    clean  synthetic captions                                              10k
    noisy  synthetic captions, 40% of them of the wrong image (noisy:)     40k (the large web-like set)
    vqa    synthetic VQA                                                    2k (small)
    easy   synthetic VQA on one-object scenes (3 question families)        20k (redundant: few distinct facts)

How "pre-training samples needed" is measured: pre-training runs at a constant learning rate after
warm-up, so the weights after n samples are those of a run stopped at n. Snapshots are kept at a
few sample counts and each is fine-tuned with the identical recipe (same data, order and seed), as
is the untrained model (0 samples: the same for every strategy, since the tokenizer and the
initialisation depend only on the data and the seed). That gives held-out accuracy against
pre-training samples per strategy; the samples needed are where the strategy's curve (mean over
seeds) first reaches proportional's final accuracy (mean over seeds), interpolated linearly between
snapshots. The data and every strategy's parameters are fixed below and were not tuned to the results.

Budget of the defaults: 7 strategies x 3 seeds x 15,360 pre-training samples, 66 fine-tunes of 4,096
samples with 500 held-out questions each: ~626k samples, about 56 minutes on 2 CPU cores at 200
samples/s (``--estimate`` prints it for any setting without running).

    python benchmarks/adaptive_sampling.py [--seeds 3] [--pretrain-steps 240] [--snapshots 3] [--finetune-steps 64] [--estimate] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from common import write_results  # noqa: E402

from jarvl.checkpoint_layout import checkpoint_path  # noqa: E402
from jarvl.data.mixture import MixtureSampler  # noqa: E402
from jarvl.data.mixture_plot import plot_weights  # noqa: E402
from jarvl.data.registry import open_dataset  # noqa: E402
from jarvl.train.config import ExperimentConfig, build_experiment  # noqa: E402
from jarvl.train.logger import read_metrics  # noqa: E402
from jarvl.train.trainer import Trainer  # noqa: E402

MIXTURE = {
    "clean": "synthetic:caption:train?n=10000&seed=11",
    "noisy": "noisy:synthetic:caption:train?n=40000&seed=12&p=0.4",
    "vqa": "synthetic:vqa:train?n=2000&seed=13",
    "easy": "synthetic:vqa:train?n=20000&seed=14&min_objects=1&max_objects=1&families=attribute,exists,count",
}
# Fine-tune and held-out task: VQA on scenes of 1-2 objects, attribute and count questions. On the
# demo's 3-6-object scenes every model sits at the language prior after a short fine-tune
# (docs/recipe.md), so every strategy would tie and the comparison would measure noise.
FINETUNE_TRAIN = "synthetic:vqa:train?n=100000&seed=15&min_objects=1&max_objects=2&families=attribute,count"
HELD_OUT = "synthetic:vqa:val?n={n}&min_objects=1&max_objects=2&families=attribute,count"
# Each strategy's parameters, set once before any run. `fixed` is a practitioner's hand mixture
# (curated sets up-weighted 2x); `curriculum` starts on the curated sets and reaches the
# proportional prior half-way (`warmup_steps` is filled in from the pre-training length).
STRATEGIES: dict[str, dict] = {
    "proportional": {},
    "uniform": {},
    "temperature": {"temperature": 2.0},
    "fixed": {"weights": {"clean": 2.0, "noisy": 1.0, "vqa": 2.0, "easy": 1.0}},
    "curriculum": {"start_weights": {"clean": 1.0, "vqa": 1.0}},
    "learning_progress": {},
    "excess_loss": {},
}
MOVING = ("curriculum", "learning_progress", "excess_loss")  # the strategies whose weights change
# The demo recipe's model and optimiser (src/jarvl/configs/demo.yaml: gate init, learning rate), so
# this benchmark inherits what was learned about training the tiny model; captions of 6 objects
# need ~32 decoder tokens (both phases alike, so the weights match).
_RECIPE = yaml.safe_load((Path(__file__).resolve().parents[1] / "src/jarvl/configs/demo.yaml").read_text())
MODEL = {**_RECIPE["model"], "decoder": {"max_len": 32}}
OPTIM = {k: _RECIPE["optim"][k] for k in ("lr", "weight_decay")}


class SnapshotTrainer(Trainer):
    """A Trainer that keeps a copy of every checkpoint (the run folder keeps only the last)."""

    def checkpoint(self, step: int, best: bool = False) -> None:
        super().checkpoint(step, best)
        shutil.copytree(checkpoint_path(self.run_dir, "last"), self.run_dir / "snapshots" / f"{step:07d}", dirs_exist_ok=True)


def pretrain_config(strategy: str, seed: int, args, reference: dict[str, float] | None = None) -> ExperimentConfig:
    """The pre-training run of ``strategy``: a checkpoint every ``steps // snapshots`` steps, no validation.

    ``reference`` (``excess_loss`` only): each dataset's reference loss, DoReMi's reference model.
    """
    steps = args.pretrain_steps
    sampling = {**STRATEGIES[strategy], "strategy": strategy, "seed": seed}
    if strategy == "excess_loss" and reference:
        sampling["reference"] = reference
    if strategy == "curriculum":
        sampling["warmup_steps"] = max(1, steps // 2)
    return build_experiment(
        {
            "model": MODEL,
            "data": {
                "mixture": MIXTURE,
                "sampling": sampling,
                "val": [],
                "batch_size": args.batch_size,
                "tokenizer_samples": args.tokenizer_samples,
            },
            # Constant lr: the snapshot after n samples is what a run stopped at n would give.
            "optim": {**OPTIM, "schedule": "constant", "warmup_steps": max(1, steps // 10)},
            "run": {
                "max_steps": steps,
                "eval_every": 0,
                "checkpoint_every": steps // args.snapshots,
                "seed": seed,
                "log_every": max(1, steps // 60),
                "progress": False,
                "threads": args.threads,
            },
        }
    )


def check_configs(strategies: list[str], args) -> None:
    """Fail before the first run for a bad spec or strategy parameter, not 40 minutes in."""
    for spec in [*MIXTURE.values(), FINETUNE_TRAIN, HELD_OUT.format(n=args.eval_samples)]:
        open_dataset(spec)
    for strategy in strategies:
        MixtureSampler(list(MIXTURE), [1] * len(MIXTURE), pretrain_config(strategy, 0, args).data.sampling)


def merged_runs(path: Path, args, strategies: list[str]) -> tuple[dict[str, dict[int, dict]], str]:
    """Runs of the strategies in an earlier results json that this invocation does not redo, and its command.

    The earlier run must have used the same settings (a different protocol would mix figures).
    """
    if not path.is_file():
        raise SystemExit(f"--merge: no earlier results at {path}")
    old = json.loads(path.read_text())
    for key in ("seeds", "pretrain_steps", "snapshots", "finetune_steps", "batch_size", "eval_samples", "tokenizer_samples"):
        if old["settings"].get(key) != getattr(args, key):
            raise SystemExit(f"--merge: {path} used {key}={old['settings'].get(key)}, this run {getattr(args, key)}")
    kept = {s: {int(seed): r for seed, r in runs.items()} for s, runs in old["runs"].items() if s not in strategies}
    return kept, old.get("merged_from") or old.get("command", "?")


def reference_losses(rows: list[dict], tail: float = 0.5) -> dict[str, float]:
    """Each dataset's mean training loss over the last ``tail`` of a run's logged mixture rows."""
    if not rows:
        return {}
    last = rows[-1]["step"]
    losses: dict[str, list[float]] = {}
    for r in rows:
        if r["step"] > (1 - tail) * last:
            for name, value in (r.get("loss") or {}).items():
                losses.setdefault(name, []).append(value)
    return {name: float(np.mean(v)) for name, v in losses.items()}


def pretrain(strategy: str, seed: int, args, run_dir: Path, zero: bool, reference: dict[str, float] | None = None) -> dict:
    """Pre-train with ``strategy``, keeping its snapshots (and one at step 0 when ``zero``)."""
    trainer = SnapshotTrainer(pretrain_config(strategy, seed, args, reference), run_dir, overwrite=True)
    if zero:
        trainer.checkpoint(0)
    summary = trainer.fit()
    rows = read_metrics(run_dir, "mixture")
    return {
        "samples": summary["samples"],
        "consumed_batches": summary["consumed"],
        "final_weights": summary["mixture_weights"],
        "final_losses": reference_losses(rows),
        "weights": [{"step": r["step"], **r["weights"]} for r in rows],
        "snapshots": sorted((run_dir / "snapshots").iterdir()),
    }


def run_strategy(strategy: str, seed: int, args, work: Path, zero: bool, reference: dict[str, float] | None = None) -> dict:
    """Pre-train, then fine-tune every snapshot: held-out accuracy after each snapshot's samples.

    Returns the pre-training record with ``curve`` (accuracy per snapshot, in order),
    ``final_per_family`` and, when ``zero``, ``zero_accuracy`` (the untrained model fine-tuned).
    """
    run_dir = work / f"{strategy}-{seed}"
    pre = pretrain(strategy, seed, args, run_dir, zero, reference)
    out: dict = {**pre, "curve": [], "final_per_family": {}}
    for snap in out.pop("snapshots"):
        ft = finetune(snap, seed, args, work / "finetune")
        if int(snap.name) == 0:
            out["zero_accuracy"] = ft["accuracy"]
        else:
            out["curve"].append(ft["accuracy"])
            out["final_per_family"] = ft["per_family"]
    shutil.rmtree(run_dir / "snapshots")
    return out


def finetune(init: Path, seed: int, args, run_dir: Path) -> dict:
    """Fine-tune ``init`` on synthetic VQA with the one fixed recipe; held-out accuracy."""
    steps = args.finetune_steps
    cfg = build_experiment(
        {
            "model": MODEL,
            "data": {"train": [FINETUNE_TRAIN], "val": [HELD_OUT.format(n=args.eval_samples)], "batch_size": args.batch_size},
            "optim": {**OPTIM, "warmup_steps": max(1, steps // 10)},
            "run": {
                "max_steps": steps,
                "eval_every": 0,
                "checkpoint_every": 0,
                "eval_samples": args.eval_samples,
                "seed": seed,
                "log_every": max(1, steps // 10),
                "progress": False,
                "threads": args.threads,
            },
        }
    )
    try:
        final = Trainer(cfg, run_dir, init_from=str(init), overwrite=True).fit()["final"]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"accuracy": final["accuracy"], "per_family": final["per_family"]}


def samples_to_reach(xs: list[int], accs: list[float], target: float) -> float | None:
    """Least pre-training samples at which the piecewise-linear curve (xs, accs) reaches ``target``; None if never."""
    if accs[0] >= target:
        return float(xs[0])
    for x0, x1, a0, a1 in zip(xs, xs[1:], accs, accs[1:]):
        if a1 >= target:  # a0 < target <= a1
            return x0 + (x1 - x0) * (target - a0) / (a1 - a0)
    return None


def summarise(runs: dict, zero: dict, xs: list[int], strategies: list[str]) -> dict:
    """Per strategy: final accuracy (mean, std over seeds), the mean curve and the samples to reach proportional."""
    done = [s for s in strategies if runs.get(s)]
    seeds = sorted(runs[done[0]]) if done else []

    def curve(strategy: str, seed: int) -> list[float]:
        return [zero[seed]] + runs[strategy][seed]["curve"]

    mean_curve = {s: np.mean([curve(s, seed) for seed in seeds], axis=0).tolist() for s in done}
    target = mean_curve["proportional"][-1] if "proportional" in mean_curve else None
    table = {}
    for s in done:
        finals = [runs[s][seed]["curve"][-1] for seed in seeds]
        needed = None if target is None else samples_to_reach(xs, mean_curve[s], target)
        per_seed = [
            samples_to_reach(xs, curve(s, seed), runs["proportional"][seed]["curve"][-1]) if target is not None else None for seed in seeds
        ]
        table[s] = {
            "accuracy_mean": float(np.mean(finals)),
            "accuracy_std": float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0,
            "accuracy_per_seed": finals,
            "curve_mean": mean_curve[s],
            "samples_to_target": needed,
            "samples_to_target_per_seed": per_seed,
            "mean_weights": mean_weights(runs[s][seeds[0]]["weights"]),
        }
    return {"seeds": seeds, "samples": xs, "target_accuracy": target, "strategies": table}


def mean_weights(rows: list[dict]) -> dict[str, float]:
    """Time-average of each dataset's weight over the logged steps of one run."""
    return {name: float(np.mean([r[name] for r in rows])) for name in MIXTURE} if rows else {}


def markdown(result: dict, args, rate: float) -> str:
    xs, target, table = result["samples"], result["target_accuracy"], result["strategies"]
    pct = lambda a: f"{100 * a:.1f}%"  # noqa: E731
    kilo = lambda n: "not reached" if n is None else f"{n / 1000:.1f}k" if n >= 1000 else f"{n:.0f}"  # noqa: E731
    se = math.sqrt(target * (1 - target) / args.eval_samples) if target is not None else float("nan")
    lines = [
        f"# Adaptive pre-training sampling: tiny JAR, {xs[-1]} pre-training samples, then {args.finetune_steps * args.batch_size} "
        f"VQA fine-tuning samples; {len(result['seeds'])} seed(s)\n",
        "Mixture (sizes set the proportional weights): " + ", ".join(f"`{k}` = `{v}`" for k, v in MIXTURE.items()) + ".\n",
        f"Held-out: `{HELD_OUT.format(n=args.eval_samples)}`, after fine-tuning on `{FINETUNE_TRAIN}` "
        f"({args.finetune_steps} steps of {args.batch_size}, lr {OPTIM['lr']:g} cosine), the same for every strategy and seed.\n",
        f"Target: proportional's final accuracy, {pct(target) if target is not None else 'n/a'} "
        f"(one evaluation's binomial standard error there: {100 * se:.1f} points).\n",
        "| strategy | held-out accuracy (mean +- std) | pre-training samples to reach the target (mean curve) | per seed | "
        + " | ".join(f"acc. after {kilo(x)}" for x in xs)
        + " | mean weights clean/noisy/vqa/easy |",
        "|---|---:|---:|---|" + "---:|" * len(xs) + "---|",
    ]
    for s, r in table.items():
        w = "/".join(f"{r['mean_weights'].get(n, float('nan')):.2f}" for n in MIXTURE)
        lines.append(
            f"| {s} | {pct(r['accuracy_mean'])} +- {100 * r['accuracy_std']:.1f} | {kilo(r['samples_to_target'])} | "
            + ", ".join(kilo(n) for n in r["samples_to_target_per_seed"])
            + " | "
            + " | ".join(pct(a) for a in r["curve_mean"])
            + f" | {w} |"
        )
    lines += [
        "",
        "How it is measured: pre-training uses a constant learning rate after warm-up, so the snapshot after n samples is "
        "what a run stopped at n would give (except for `curriculum`, whose schedule spans the whole run). Every snapshot, "
        "and the untrained model (0 samples, the same for every strategy), is fine-tuned with the identical recipe. The "
        "samples to reach the target are where the strategy's accuracy curve (mean over seeds) first reaches proportional's "
        "final accuracy, interpolated linearly between snapshots; per seed, against that seed's proportional run. Differences "
        "smaller than about two standard errors are noise.",
        "",
        "Strategy parameters (fixed before any run, not tuned): "
        + "; ".join(f"`{s}` {STRATEGIES[s] or 'defaults'}" for s in table)
        + (f"; curriculum warm-up {max(1, args.pretrain_steps // 2)} steps" if "curriculum" in table else "")
        + ". Adaptive strategies use the proportional prior and min_weight 0.01. `excess_loss`'s reference model "
        "(DoReMi's) is the same seed's `proportional` run: its mean loss per dataset over the second half of "
        "pre-training, given as `sampling.reference` (docs/sampling.md).",
        "",
        "How the weights moved (seed "
        + str(result["seeds"][0] if result["seeds"] else "-")
        + "): "
        + ", ".join(f"`{p}`" for p in result.get("plots", []))
        + ".",
        "",
        f"Measured throughput: {rate:.0f} training samples/s over the whole benchmark (pre-training, fine-tuning and evaluation).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated (proportional is always run: it sets the target)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--pretrain-steps", type=int, default=240)
    ap.add_argument("--snapshots", type=int, default=3, help="fine-tuned pre-training checkpoints per run, evenly spaced")
    ap.add_argument("--finetune-steps", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--eval-samples", type=int, default=500)
    ap.add_argument("--tokenizer-samples", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--rate", type=float, default=200.0, help="samples/s assumed for the duration estimate printed at start")
    ap.add_argument("--work-dir", type=Path, default=None, help="where the runs go (default: a temporary folder, removed)")
    ap.add_argument("--estimate", action="store_true", help="print the expected duration and exit")
    ap.add_argument("--quick", action="store_true", help="a few steps per phase, 2 strategies, 1 seed (keeps the script alive in tests)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the strategies already in --out's json that this invocation does not run (same settings), "
        "e.g. to redo one strategy: --strategies excess_loss --merge",
    )
    args = ap.parse_args()
    if args.quick:
        if args.strategies == ",".join(STRATEGIES):  # the default: two strategies are enough to keep it alive
            args.strategies = "proportional,learning_progress"
        args.seeds, args.pretrain_steps, args.snapshots = 1, 4, 2
        args.finetune_steps, args.batch_size, args.eval_samples, args.tokenizer_samples = 2, 8, 16, 400
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        ap.error(f"unknown strategies {unknown}; valid: {', '.join(STRATEGIES)}")
    strategies = ["proportional"] + [s for s in strategies if s != "proportional"]
    if args.seeds < 1 or args.snapshots < 1:
        ap.error("--seeds and --snapshots must be >= 1")
    if args.pretrain_steps % args.snapshots:
        ap.error(f"--pretrain-steps {args.pretrain_steps} must be a multiple of --snapshots {args.snapshots}")
    xs = [i * args.pretrain_steps // args.snapshots * args.batch_size for i in range(args.snapshots + 1)]
    finetunes = args.seeds * (len(strategies) * args.snapshots + 1)
    total = (args.seeds * len(strategies) * args.pretrain_steps + finetunes * args.finetune_steps) * args.batch_size
    total += finetunes * args.eval_samples  # a generated answer costs about a training sample
    # Start-up measured on 2 cores: ~5 s per pre-training run (tokenizer on 20k records), ~1.5 s per fine-tune.
    overhead = args.seeds * len(strategies) * 5 + finetunes * 1.5
    print(
        f"{len(strategies)} strategies x {args.seeds} seeds: {args.pretrain_steps * args.batch_size} pre-training samples each, "
        f"{finetunes} fine-tunes of {args.finetune_steps * args.batch_size} samples + {args.eval_samples} evaluated; "
        f"{total} samples in all: expect about {(total / args.rate + overhead) / 60:.0f} min at {args.rate:.0f} samples/s "
        f"(of which {overhead / 60:.0f} min start-up)",
        flush=True,
    )
    if args.estimate:
        return
    check_configs(strategies, args)

    name = "adaptive_sampling" + ("_quick" if args.quick else "")
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="adaptive_sampling-"))
    runs: dict[str, dict[int, dict]] = {s: {} for s in strategies}
    zero: dict[int, float] = {}
    kept, kept_from = merged_runs(args.out / f"{name}.json", args, strategies) if args.merge else ({}, None)
    t0, samples = time.perf_counter(), 0
    try:
        for seed in range(args.seeds):
            for strategy in strategies:
                # excess_loss's reference model (DoReMi): this seed's proportional run, i.e. the same
                # model trained on the prior mixture; its losses over the second half of pre-training (a small dataset is drawn rarely).
                reference = runs["proportional"][seed]["final_losses"] if strategy == "excess_loss" else None
                run = runs[strategy][seed] = run_strategy(strategy, seed, args, work, zero=seed not in zero, reference=reference)
                if reference:
                    run["reference"] = reference
                zero_accuracy = run.pop("zero_accuracy", None)
                if zero_accuracy is not None:
                    zero[seed] = zero_accuracy
                fine_tuned = len(run["curve"]) + (zero_accuracy is not None)
                samples += run["samples"] + fine_tuned * (args.finetune_steps * args.batch_size + args.eval_samples)
                print(
                    f"seed {seed} {strategy}: accuracy after {', '.join(str(x) for x in xs)} pre-training samples: "
                    f"{', '.join(f'{100 * a:.1f}%' for a in [zero[seed]] + run['curve'])}  "
                    f"({(time.perf_counter() - t0) / 60:.1f} min)",
                    flush=True,
                )
                if seed == 0 and strategy in MOVING:
                    plot_weights(
                        [{k: r[k] for k in MIXTURE} for r in run["weights"]],
                        args.out / f"{name}_weights_{strategy}.png",
                        steps=[r["step"] for r in run["weights"]],
                        title=f"{strategy}: mixture weights (seed 0)",
                    )
            # Written after every seed, so an interrupted run still leaves its figures.
            rate = samples / (time.perf_counter() - t0)
            complete = {s: r for s, r in runs.items() if len(r) == seed + 1}
            if seed + 1 == args.seeds:
                complete.update(kept)
            order = [s for s in STRATEGIES if s in complete]
            result = summarise(complete, zero, xs, order)
            result["plots"] = [f"{name}_weights_{s}.png" for s in order if s in MOVING]
            payload = {
                "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "mixture": MIXTURE,
                "finetune_train": FINETUNE_TRAIN,
                "strategy_params": STRATEGIES,
                "samples_per_s": rate,
                "minutes": (time.perf_counter() - t0) / 60,
                "result": result,
                "runs": {**runs, **(kept if seed + 1 == args.seeds else {})},
                "zero_pretraining_accuracy": zero,
            }
            md = markdown(result, args, rate)
            if kept and seed + 1 == args.seeds:
                payload["merged_from"] = kept_from
                md += (
                    f"\nRuns of {', '.join(f'`{s}`' for s in kept)} are kept from an earlier invocation with the "
                    f"same settings, `{kept_from}` (`--merge`).\n"
                )
            write_results(args.out, name, payload, md)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"done in {(time.perf_counter() - t0) / 60:.1f} min ({rate:.0f} samples/s); wrote {args.out / name}.md/.json", flush=True)


if __name__ == "__main__":
    main()
