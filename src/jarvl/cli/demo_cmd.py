"""``jarvl demo``: the main job. Trains tiny JAR on synthetic VQA on the CPU and reports."""

from __future__ import annotations

import argparse
from pathlib import Path

from jarvl.cli.arguments import SEED, check_output_dir, float_in, int_in


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser(
        "demo",
        help="train tiny JAR on synthetic VQA (CPU, ~9.5 minutes) and report",
        description=(
            "Train the tiny JAR model on the built-in synthetic VQA data, then print accuracy per question "
            "family beside the text-only baseline, GFLOPs and activation memory beside concat's, samples/s; "
            "plot validation accuracy against time and show test images with the model's answers. "
            "Everything printed is also written to OUT/demo_results.json."
        ),
    )
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument(
        "--minutes",
        type=float_in(0, 24 * 60, lo_open=True),
        default=9.0,
        help="JAR's training time budget in minutes (default 9; with profiling and scoring the demo ends within 10)",
    )
    p.add_argument("--compare", action="store_true", help="also train concat on the same number of samples; both curves on the plot")
    p.add_argument("--test-size", type=int_in(1), default=2000, help="held-out questions scored (default 2000)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument(
        "--ranks",
        type=int_in(0, 256),
        default=0,
        help="DDP processes on the CPU, each with its share of the batch and of the cores "
        "(default 0: one per core while each keeps >= 32 samples, so 2 on 2 cores; 1: one process)",
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override the recipe (dotted keys)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its report."""
    from jarvl.cli.demo import DemoOptions, run_demo

    check_output_dir(args.out, "--out")

    results = run_demo(
        DemoOptions(
            out=Path(args.out),
            minutes=args.minutes,
            compare=args.compare,
            test_size=args.test_size,
            seed=args.seed,
            ranks=args.ranks,
            overrides=args.set,
        )
    )
    print_report(results, Path(args.out))
    return 0


def print_report(results: dict, out: Path) -> None:
    """The demo's tables: accuracy per family vs the text-only baseline, cost vs concat, examples."""
    from rich.table import Table

    from jarvl.cli.console import console

    con = console()
    names = list(results["runs"])
    main = results["runs"][names[0]]
    base = results["text_only"]
    con.print(f"[bold]held-out synthetic VQA ({main['test']['n']} test questions, 3-6 objects per scene)")
    table = Table()
    table.add_column("question family")
    for name in names:
        table.add_column(f"{name} tiny", justify="right")
    table.add_column("text-only", justify="right")
    table.add_column(f"{names[0]} - text-only", justify="right")
    for fam in sorted(main["test"]["per_family"]):
        accs = [results["runs"][n]["test"]["per_family"].get(fam, 0.0) for n in names]
        b = base["per_family"].get(fam, 0.0)
        table.add_row(fam, *[f"{100 * a:.1f}%" for a in accs], f"{100 * b:.1f}%", f"{100 * (accs[0] - b):+.1f}")
    accs = [results["runs"][n]["test"]["accuracy"] for n in names]
    table.add_row(
        "[bold]overall",
        *[f"[bold]{100 * a:.1f}%" for a in accs],
        f"{100 * base['accuracy']:.1f}%",
        f"{100 * (accs[0] - base['accuracy']):+.1f}",
    )
    table.add_row("compositional split", *[f"{100 * results['runs'][n]['comp']['accuracy']:.1f}%" for n in names], "", "")
    con.print(table)

    prof = results["profile"]
    con.print("[bold]cost per sample (tiny preset; GFLOPs = 2 x multiply-adds, forward)")
    cost = Table()
    for col in ("fusion", "GFLOPs", "x concat", "activation MB (batch 8)", "x concat", "train samples/s", "train time"):
        cost.add_column(col, justify="left" if col == "fusion" else "right")
    for fusion, p in prof.items():
        run = results["runs"].get(fusion)
        cost.add_row(
            fusion,
            f"{p['gflops']:.4f}",
            f"{p['gflops'] / prof['concat']['gflops']:.2f}",
            f"{p['activation_mb']:.1f}",
            f"{p['activation_mb'] / prof['concat']['activation_mb']:.2f}",
            f"{run['samples_per_s']:.0f}" if run else "-",
            f"{run['train_seconds'] / 60:.1f} min, {run['samples']} samples" if run else "-",
        )
    con.print(cost)

    con.print(f"[bold]test images ({out / 'examples.png'})")
    ex = Table()
    for col in ("question", "model", "truth", ""):
        ex.add_column(col)
    for r in main["examples"]:
        ok = r["prediction"].strip() == r["target"].strip()
        ex.add_row(r["prompt"], r["prediction"], r["target"], "[green]ok" if ok else "[red]wrong")
    con.print(ex)
    con.print(
        f"plot: {out / 'accuracy_vs_time.png'}   results: {out / 'demo_results.json'}   wall time: {results['wall_seconds'] / 60:.1f} min"
    )
