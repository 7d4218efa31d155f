"""``jarvl eval``: generate answers for a dataset with a trained checkpoint and score them."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``eval`` subcommand."""
    p = sub.add_parser("eval", help="evaluate a checkpoint on a dataset", description="Generate answers with a checkpoint and report exact-match accuracy overall, per task and per family.")
    p.add_argument("--checkpoint", required=True, help="run directory (uses its best checkpoint) or a checkpoint folder")
    p.add_argument("--data", required=True, help="dataset spec FORMAT:PATH[:SPLIT]")
    p.add_argument("--limit", type=int, help="evaluate the first N records only")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--beams", type=int, default=1, help="beam search width (1 = greedy)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", help="write predictions here (JSON list of {id, prompt, target, prediction, ...})")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print (or write) the results."""
    from jarvl.data.loader import make_loader
    from jarvl.evaluation.generation import exact_match_report, predict_all
    from jarvl.inference import Predictor
    from jarvl.train.setup import open_datasets

    predictor = Predictor(args.checkpoint, device=args.device, num_beams=args.beams)
    data = open_datasets([args.data])
    n = min(len(data), args.limit or len(data))
    batches = [list(range(i, min(i + args.batch_size, n))) for i in range(0, n, args.batch_size)]
    loader = make_loader(data, batches, predictor.collate)
    seen, skipped = 0, []

    def counted():
        nonlocal seen
        for batch in loader:
            seen += batch.seen
            skipped.extend(batch.skipped)
            yield batch

    records = predict_all(predictor.predict_batch, counted())
    report = exact_match_report(records)
    report["skipped"] = len(skipped)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(records, handle, indent=1)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_report(report, f"{args.data} with {predictor.path}")
    return 0


def print_report(report: dict, title: str) -> None:
    """A table of accuracy overall and per family."""
    from rich.table import Table

    from jarvl.cli.console import console

    console().print(f"[bold]{title}")
    table = Table()
    table.add_column("group")
    table.add_column("accuracy", justify="right")
    for fam, acc in sorted(report["per_family"].items()):
        table.add_row(fam, f"{100 * acc:.1f}%")
    table.add_row("[bold]overall", f"[bold]{100 * report['accuracy']:.1f}%")
    console().print(table)
    console().print(f"{report['n']} records scored, {report.get('skipped', 0)} skipped")
