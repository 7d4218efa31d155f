"""The training benchmarks' command line: the protocol's options, ``--merge``/``--from-json``, and the
common main that runs a grid of arms and writes the results after every run (``benchmarks/protocol.py``
holds the protocol itself). Used by ``fusions.py`` and ``ablations.py``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from common import command, restore_provenance
from protocol import TASKS, Arm, Protocol, experiment, recipe, run_grid, steps_of, task_specs, train_size

from jarvl.config import ConfigError, apply_overrides
from jarvl.data.registry import open_dataset


def add_arguments(ap: argparse.ArgumentParser, defaults: Protocol) -> None:
    """The protocol's options (budget, seeds, difficulty, evaluation sizes, threads, recipe overrides)."""
    g = ap.add_argument_group("protocol (the same for every arm)")
    g.add_argument(
        "--budget-samples",
        type=int,
        default=defaults.budget_samples,
        help=f"training samples per run, the same for every arm (default {defaults.budget_samples})",
    )
    g.add_argument("--seeds", type=int, default=defaults.seeds, help=f"seeds per arm (default {defaults.seeds})")
    g.add_argument(
        "--min-objects", type=int, default=defaults.min_objects, help=f"fewest objects per scene (default {defaults.min_objects})"
    )
    g.add_argument("--max-objects", type=int, default=defaults.max_objects, help=f"most objects per scene (default {defaults.max_objects})")
    g.add_argument(
        "--families",
        default=defaults.families,
        help=f"question families (VQA's, and entailment's true/false claims), comma-separated, or 'all' (default {defaults.families})",
    )
    g.add_argument(
        "--eval-samples",
        type=int,
        default=defaults.eval_samples,
        help=f"held-out questions per split, test and comp (default {defaults.eval_samples})",
    )
    g.add_argument(
        "--val-samples",
        type=int,
        default=defaults.val_samples,
        help=f"validation questions per point of the accuracy-vs-time curve (default {defaults.val_samples})",
    )
    g.add_argument(
        "--curve-points",
        type=int,
        default=defaults.curve_points,
        help=f"validation evaluations during a run, besides the final one (default {defaults.curve_points})",
    )
    g.add_argument(
        "--minutes-per-run",
        type=float,
        default=defaults.minutes_per_run,
        help="safety cap on one run's training minutes (0: none); a run stopped by it is flagged as short of the budget",
    )
    g.add_argument("--threads", type=int, default=defaults.threads, help="torch threads (0: torch's default)")
    g.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override the demo recipe (dotted key, e.g. optim.lr=5e-4); repeatable, applies to every arm",
    )
    g.add_argument("--rate", type=float, default=190.0, help="samples/s assumed for the duration estimate (default 190)")
    g.add_argument(
        "--overhead-s",
        type=float,
        default=18.0,
        help="seconds per run besides training (set-up, evaluation, profiling) for the estimate (default 18)",
    )
    g.add_argument("--estimate", action="store_true", help="print the expected duration and exit")
    g.add_argument("--work-dir", type=Path, help="keep the run folders here (default: a temporary folder, removed)")


def protocol_from_args(args: argparse.Namespace) -> Protocol:
    """A Protocol from parsed options; checks the difficulty and the overrides before any run."""
    proto = Protocol(
        budget_samples=args.budget_samples,
        seeds=args.seeds,
        min_objects=args.min_objects,
        max_objects=args.max_objects,
        families=args.families,
        eval_samples=args.eval_samples,
        val_samples=args.val_samples,
        curve_points=args.curve_points,
        minutes_per_run=args.minutes_per_run,
        threads=args.threads,
        overrides=list(args.overrides),
    )
    if proto.budget_samples < 1 or proto.seeds < 1:
        raise SystemExit("--budget-samples and --seeds must be >= 1")
    try:  # a bad difficulty or override fails here, not 40 minutes in
        for task in TASKS:
            for spec in task_specs(task, proto, 10).values():
                open_dataset(spec)
        experiment(Arm("check"), "vqa", 0, proto)
    except (ValueError, ConfigError) as err:
        raise SystemExit(f"error: {err}") from None
    return proto


def estimate_minutes(runs: int, proto: Protocol, rate: float, overhead_s: float) -> float:
    """Expected minutes for ``runs`` training runs: the budget at ``rate`` samples/s plus a fixed overhead each."""
    return runs * (proto.budget_samples / rate + overhead_s) / 60


def settings(proto: Protocol) -> dict:
    """The protocol and the recipe as resolved (stored in the results, compared before a merge)."""
    base = apply_overrides(recipe(), proto.overrides)
    return {
        **asdict(proto),
        "batch_size": base.data.batch_size,
        "steps": steps_of(proto, base.data.batch_size),
        "lr": base.optim.lr,
        "gate_init": base.model.fusion.gate_init,
        "preset": base.model.preset,
        "specs": {t: task_specs(t, proto, train_size(base, proto)) for t in TASKS},
    }


# Settings that change what a run measures: results made under different ones are never merged.
MERGE_KEYS = (
    "budget_samples",
    "min_objects",
    "max_objects",
    "families",
    "eval_samples",
    "val_samples",
    "curve_points",
    "overrides",
    "batch_size",
    "lr",
    "gate_init",
    "preset",
)


def run_benchmark(
    ap: argparse.ArgumentParser,
    args: argparse.Namespace,
    name: str,
    arms: list[Arm],
    tasks: list[str],
    proto: Protocol,
    render: Callable[[Path, str, dict, dict, float], dict],
) -> None:
    """The common main of the training benchmarks: print the estimate, merge with ``--out``'s json
    when ``--merge``, run the grid and ``render`` (write md/json/plots) after every run."""
    runs = proto.seeds * len(tasks) * len(arms)
    print(
        f"{len(arms)} arms x {len(tasks)} task(s) x {proto.seeds} seed(s) = {runs} runs of {proto.budget_samples:,} samples: "
        f"expect about {estimate_minutes(runs, proto, args.rate, args.overhead_s):.0f} min at {args.rate:.0f} samples/s "
        f"and {args.overhead_s:.0f} s overhead per run",
        flush=True,
    )
    if args.estimate:
        return
    st = settings(proto)
    results: dict = {"runs": [], "costs": [], "text_only": {}}
    path = args.out / f"{name}.json"
    if args.merge and path.is_file():
        old = json.loads(path.read_text())
        differ = [k for k in MERGE_KEYS if old["settings"].get(k) != st.get(k)]
        if differ:
            ap.error(f"--merge: {path} was made with other settings ({', '.join(differ)}); rerun everything instead")
        results = old["results"]
        results.setdefault(
            "invocations",
            [{"command": old.get("command", "?"), "arms": sorted({r["arm"] for r in results["runs"]}), "date": old.get("date")}],
        )
        st["seeds"] = max(st["seeds"], old["settings"]["seeds"])
    results.setdefault("invocations", []).append(
        {"command": command(), "arms": [a.label for a in arms], "date": datetime.date.today().isoformat()}
    )
    t0 = time.perf_counter()
    run_grid(
        arms,
        tasks,
        proto,
        work_dir=args.work_dir,
        results=results,
        after_run=lambda res: render(args.out, name, st, res, (time.perf_counter() - t0) / 60),
    )
    print(f"done in {(time.perf_counter() - t0) / 60:.1f} min; wrote {args.out / name}.md/.json", flush=True)


def provenance(results: dict) -> str:
    """A paragraph naming every invocation whose runs the results hold (several after ``--merge``); '' for one."""
    calls = results.get("invocations", [])
    if len(calls) < 2:
        return ""
    items = "; ".join(f"`{c['command']}` ({c.get('date') or 'date not recorded'}: {', '.join(c['arms'])})" for c in calls)
    return f"The runs come from {len(calls)} invocations with the same protocol, later ones replacing earlier runs of the same arm (`--merge`): {items}.\n"


def rerender(args: argparse.Namespace, name: str, render: Callable[[Path, str, dict, dict, float], dict]) -> None:
    """``--from-json``: write the page and plots again from saved results, without training."""
    old = json.loads(args.from_json.read_text())
    render(args.out, name, old["settings"], old["results"], old.get("minutes", 0.0))
    restore_provenance(args.out, name, old)  # the figures are the original command's
    print(f"re-wrote {args.out / name}.md from {args.from_json}")


def add_output_arguments(ap: argparse.ArgumentParser) -> None:
    """--out, --merge and --from-json, shared by the training benchmarks."""
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where the md, json and PNGs go")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the runs already in --out's json that this invocation does not "
        "redo (the protocol settings must match), e.g. to rerun one arm after a fix",
    )
    ap.add_argument("--from-json", type=Path, help="re-write the page and plots from a saved json, without training")


def split_names(value: str, valid: list[str], ap: argparse.ArgumentParser) -> list[str]:
    """Comma-separated names, each checked against ``valid`` (an argparse error naming the valid ones)."""
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in valid]
    if bad or not names:
        ap.error(f"unknown {bad or 'empty list'}; valid: {', '.join(valid)}")
    return names
