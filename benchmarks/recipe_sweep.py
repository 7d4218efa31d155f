"""Train several recipe variants at once and compare their validation curves by training samples.

Meant for a big machine (a GPU and many cores), where several tiny-model runs fit side by side: each
variant is one ``jarvl train`` process with the demo recipe (``src/jarvl/configs/demo.yaml``) plus
its own ``--set`` overrides, all with the same data, wall-time budget and a constant learning rate
after warm-up (so the curves do not depend on a schedule length nobody knows in advance).
It answers "how many samples does this recipe need to leave the language prior?".

    python benchmarks/recipe_sweep.py --minutes 4 \
        --variant base= --variant concat=model.fusion.name=concat \
        --variant nullkey=model.fusion.null_key=true [--train SPEC --val SPEC] [--quick]

A variant is ``NAME=KEY=VALUE[,KEY=VALUE...]`` (empty after the first ``=``: the recipe as it is).
Writes ``recipe_sweep.md/json`` and ``recipe_sweep.png`` (accuracy against samples) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "src" / "jarvl" / "configs" / "demo.yaml"
TRAIN = "synthetic:vqa:train?n=2000000&min_objects=3&max_objects=6"
VAL = "synthetic:vqa:val?n=600&min_objects=3&max_objects=6"


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``NAME=K=V,K=V`` -> (NAME, ["K=V", "K=V"]); a bare ``NAME=`` has no overrides."""
    name, _, rest = text.partition("=")
    if not name:
        raise SystemExit(f"--variant {text!r}: expected NAME=KEY=VALUE[,KEY=VALUE...]")
    return name, [s for s in rest.split(",") if s]


def launch(name: str, sets: list[str], args: argparse.Namespace, runs: Path) -> subprocess.Popen:
    """Start one ``jarvl train`` process for a variant; its log goes to RUN_DIR.log."""
    out = runs / name
    cmd = [
        sys.executable,
        "-m",
        "jarvl.cli.main",
        "train",
        "--config",
        str(RECIPE),
        "--out",
        str(out),
        "--train",
        args.train,
        "--val",
        args.val,
        "--max-minutes",
        str(args.minutes),
        "--quiet",
        "--set",
        "optim.schedule=constant",
        "--set",
        f"run.max_steps={args.max_steps}",
        "--set",
        "run.eval_every=0",
        "--set",
        f"run.eval_every_minutes={args.eval_every_minutes}",
        "--set",
        f"run.eval_samples={args.eval_samples}",
        "--set",
        "run.checkpoint_every=0",
        "--set",
        f"data.num_workers={args.workers}",
        "--set",
        f"run.threads={args.threads}",
    ]
    if args.quick:
        cmd += ["--set", "data.tokenizer_samples=500"]
    for s in sets:
        cmd += ["--set", s]
    log = open(runs / f"{name}.log", "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def curve(run_dir: Path) -> list[dict]:
    """The eval rows of a run's metrics.jsonl: step, samples, elapsed_s, accuracy, per_family."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    keys = ("step", "samples", "elapsed_s", "accuracy", "per_family")
    return [{k: r.get(k) for k in keys} for r in rows if r.get("kind") == "eval"]


def plot(results: dict, path: Path) -> None:
    """Validation accuracy against training samples, one line per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, r in results.items():
        c = r["curve"]
        ax.plot([e["samples"] for e in c], [100 * e["accuracy"] for e in c], marker="o", ms=3, label=name)
    ax.set_xlabel("training samples")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    """Parse the variants, run them side by side, write the comparison."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", default=[], help="NAME=KEY=VALUE[,KEY=VALUE...] (repeatable)")
    ap.add_argument("--minutes", type=float, default=4.0, help="wall-time budget of every run")
    ap.add_argument("--train", default=TRAIN)
    ap.add_argument("--val", default=VAL)
    ap.add_argument("--max-steps", type=int, default=1_000_000, help="a cap; the wall-time budget normally ends runs")
    ap.add_argument("--eval-every-minutes", type=float, default=0.5)
    ap.add_argument("--eval-samples", type=int, default=600)
    ap.add_argument("--workers", type=int, default=2, help="data workers per run")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    ap.add_argument("--runs", type=Path, default=Path("runs/recipe_sweep"), help="where the run directories go")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--quick", action="store_true", help="two variants, a few seconds each (keeps the script alive in tests)")
    args = ap.parse_args()
    if args.quick:
        args.variant = args.variant or ["base=", "concat=model.fusion.name=concat"]
        args.minutes, args.eval_every_minutes, args.eval_samples, args.workers = 0.15, 0.05, 30, 0
        args.train = "synthetic:vqa:train?n=2000&min_objects=1&max_objects=2"
        args.val = "synthetic:vqa:val?n=30&min_objects=1&max_objects=2"
        args.runs = args.out / "recipe_sweep_runs"
    if not args.variant:
        ap.error("give at least one --variant")
    variants = dict(parse_variant(v) for v in args.variant)
    args.runs.mkdir(parents=True, exist_ok=True)
    start = time.time()
    procs = {name: launch(name, sets, args, args.runs) for name, sets in variants.items()}
    print(f"started {len(procs)} runs of {args.minutes} min each", flush=True)
    codes = {name: p.wait() for name, p in procs.items()}
    results = {}
    for name, sets in variants.items():
        c = curve(args.runs / name)
        results[name] = {"overrides": sets, "returncode": codes[name], "curve": c}
        last = c[-1] if c else {}
        print(f"{name}: rc {codes[name]}, {last.get('samples')} samples, accuracy {last.get('accuracy')}", flush=True)
    lines = ["| variant | overrides | samples | final val. accuracy | best | per family (final) |", "|---|---|---:|---:|---:|---|"]
    for name, r in results.items():
        c = r["curve"]
        if not c:
            lines.append(f"| {name} | {' '.join(r['overrides']) or '-'} | - | failed (rc {r['returncode']}) | - | - |")
            continue
        fam = ", ".join(f"{k} {100 * v:.0f}" for k, v in sorted(c[-1]["per_family"].items()))
        best = max(e["accuracy"] for e in c)
        lines.append(
            f"| {name} | {' '.join(r['overrides']) or '-'} | {c[-1]['samples']} | "
            f"{100 * c[-1]['accuracy']:.1f}% | {100 * best:.1f}% | {fam} |"
        )
    plot(results, args.out / f"recipe_sweep{'_quick' if args.quick else ''}.png")
    md = (
        f"# Recipe sweep: {len(results)} variants side by side, {args.minutes:g} min each\n\n"
        f"Recipe: `{RECIPE.relative_to(ROOT)}` with a constant learning rate after warm-up. "
        f"Train `{args.train}`, validation `{args.val}` ({args.eval_samples} questions every "
        f"{args.eval_every_minutes:g} min). Wall time {time.time() - start:.0f} s.\n\n" + "\n".join(lines) + "\n"
    )
    write_results(
        args.out,
        "recipe_sweep" + ("_quick" if args.quick else ""),
        {"train": args.train, "val": args.val, "minutes": args.minutes, "variants": results},
        md,
    )


if __name__ == "__main__":
    main()
