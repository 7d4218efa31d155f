"""The long curves of issue #11: `jarvl train` runs of the demo recipe, evaluated every few minutes on
the demo's 2,000 test questions, drawn together and dumped with their configs (md tables to stdout).

    python benchmarks/long_curve.py --run recipe=runs/long60_recipe --run phrases=runs/long60_phrases \\
        --json session-8=benchmarks/results/notes/long_curve.cpu.json --out benchmarks/results/notes/long_curve.cpu

``--run LABEL=RUN_DIR`` reads a run's metrics.jsonl, config.json and summary.json; ``--json
LABEL=FILE`` a curve this script wrote before (its runs, or the single-run format of 2026-12-01).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FAMILIES = ("attribute", "compare", "count", "exists", "spatial")
# The text-only prior on the demo's 2,000 test questions (benchmarks/results/learn_to_see.cpu.md).
PRIOR = {"all": 39.8, "attribute": 43.5, "compare": 51.7, "count": 16.1, "exists": 55.5, "spatial": 33.5}


def read_run(path: Path) -> dict:
    """A run directory's evaluations, config and summary."""
    evals = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines() if '"kind": "eval"' in line]
    summary = json.loads((path / "summary.json").read_text()) if (path / "summary.json").exists() else None
    return {"run_dir": str(path), "run_config": json.loads((path / "config.json").read_text()), "evals": evals, "summary": summary}


def read_json(path: Path) -> dict[str, dict]:
    """Curves written by this script ({"runs": {label: run}}) or the older single-run file."""
    data = json.loads(path.read_text())
    return data["runs"] if "runs" in data else {"": data}


def table(run: dict) -> str:
    """Markdown: one row per evaluation (minutes, samples, overall and per family accuracy)."""
    rows = ["| minutes | samples | all | " + " | ".join(FAMILIES) + " |", "|---:|---:|---:|" + "---:|" * len(FAMILIES)]
    for e in run["evals"]:
        fam = " | ".join(f"{100 * e['per_family'].get(f, float('nan')):.1f}" for f in FAMILIES)
        rows.append(f"| {e['elapsed_s'] / 60:.0f} | {e['samples'] / 1000:.1f}k | {100 * e['accuracy']:.1f} | {fam} |")
    return "\n".join(rows)


def plot(runs: dict[str, dict], out: Path) -> None:
    """Overall accuracy of every run against samples (left) and each family of every run (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), dpi=110)
    styles = ("-", "--", ":", "-.")
    for (label, run), ls in zip(runs.items(), styles):
        xs = [e["samples"] / 1000 for e in run["evals"]]
        left.plot(xs, [100 * e["accuracy"] for e in run["evals"]], ls=ls, marker="o", ms=3, label=label)
        for f, c in zip(FAMILIES, ("C0", "C1", "C2", "C3", "C4")):
            right.plot(xs, [100 * e["per_family"][f] for e in run["evals"]], ls=ls, color=c, label=f"{f} ({label})")
    left.axhline(PRIOR["all"], color="grey", ls="--", lw=1, label=f"text-only ({PRIOR['all']})")
    for f, c in zip(FAMILIES, ("C0", "C1", "C2", "C3", "C4")):
        right.axhline(PRIOR[f] + 15, color=c, ls=":", lw=0.6)
    left.set_title("all families, 2,000 test questions")
    right.set_title("per family (dotted: text-only + 15)")
    for ax in (left, right):
        ax.set_xlabel("training samples (thousands)")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    left.legend(fontsize=8, loc="lower right")
    right.legend(fontsize=6, loc="lower right", ncol=2)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"))


def main() -> None:
    """Read the runs, write OUT.json and OUT.png, print one markdown table per run."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", action="append", default=[], metavar="LABEL=RUN_DIR")
    p.add_argument("--json", action="append", default=[], metavar="LABEL=FILE")
    p.add_argument("--out", required=True, help="output path without suffix (OUT.json, OUT.png)")
    args = p.parse_args()
    runs: dict[str, dict] = {}
    for item in args.json:
        label, path = item.split("=", 1)
        for sub, run in read_json(Path(path)).items():
            runs[sub or label] = run
    for item in args.run:
        label, path = item.split("=", 1)
        runs[label] = read_run(Path(path))
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps({"runs": runs}, indent=1))
    plot(runs, out)
    for label, run in runs.items():
        print(f"### {label}\n\n{table(run)}\n")


if __name__ == "__main__":
    main()
