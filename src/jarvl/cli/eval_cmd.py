"""``jarvl eval``: generate answers for a dataset with a trained checkpoint and score them.

    jarvl eval --checkpoint runs/vqa --data vqa2:/data/vqa:val2014 --results vqa_val.json
    jarvl eval --checkpoint runs/vqa --data vqa2:/data/vqa:test-dev2015 --results submit.json

Always: exact match overall, per task and per family, and the skipped records by reason. For the
official formats (vqa2, gqa, snli-ve, coco-captions) with annotations: the benchmark's own metric
(``jarvl.evaluation.official``), computed exactly as ``jarvl score`` computes it on the
``--results`` file. That file holds one entry per record whose labels are readable: a record
skipped for its image (missing, corrupt, ...) is written with an empty answer and counted as
wrong ("unanswered"), as the benchmark's server would, so a test-split file is complete.
"""

from __future__ import annotations

import argparse
import json

from jarvl.cli.arguments import BATCH, BEAMS, check_output_file, device_name, int_in


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``eval`` subcommand."""
    p = sub.add_parser(
        "eval",
        help="evaluate a checkpoint on a dataset",
        description="Generate answers with a checkpoint and report exact-match accuracy overall, per task and per family; "
        "for vqa2, gqa, snli-ve and coco-captions also the official metric, and --results in the official results format.",
    )
    p.add_argument("--checkpoint", required=True, help="run directory (uses its best checkpoint) or a checkpoint folder")
    p.add_argument("--data", required=True, help="dataset spec FORMAT:PATH[:SPLIT]")
    p.add_argument("--limit", type=int_in(1), help="evaluate the first N records only")
    p.add_argument("--batch-size", type=BATCH, default=128)
    p.add_argument("--beams", type=BEAMS, default=1, help="beam search width (1 = greedy)")
    p.add_argument("--device", type=device_name, default="cpu")
    p.add_argument("--out", help="write predictions here (JSON list of {id, prompt, target, prediction, ...})")
    p.add_argument("--results", metavar="FILE", help="write predictions in the dataset's official results format (see jarvl score --help)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print (or write) the results."""
    from jarvl.data.bad_records import SkipStats
    from jarvl.data.loader import make_loader, stream_batches
    from jarvl.data.registry import DatasetSpec, open_dataset
    from jarvl.evaluation.official import OFFICIAL, write_and_score
    from jarvl.evaluation.predict import exact_match_report, predict_all
    from jarvl.inference import Predictor

    # Output paths first: a typo there must not cost a whole evaluation.
    check_output_file(args.out, "--out")
    check_output_file(args.results, "--results")
    predictor = Predictor(args.checkpoint, device=args.device, num_beams=args.beams)
    dataset = open_dataset(args.data)
    fmt = DatasetSpec.parse(args.data).format
    try:
        n = min(len(dataset), args.limit or len(dataset))
    except TypeError:  # a stream (wds): one pass, no length
        n = None
    if n is None:
        loader = stream_batches(dataset, args.batch_size, predictor.collate, args.limit)
    else:
        loader = make_loader(
            dataset, [list(range(i, min(i + args.batch_size, n))) for i in range(0, n, args.batch_size)], predictor.collate
        )
    stats, answered = SkipStats(), []

    def counted():
        for batch in loader:
            stats.merge(batch.seen, batch.skipped)
            yield batch

    def predict(batch) -> list[str]:
        predictions = predictor.predict_batch(batch)
        answered.extend(zip(batch.samples, predictions))
        return predictions

    records = predict_all(predict, counted())
    report = exact_match_report(records)
    report["skipped"] = stats.skipped
    report["skips"] = stats.as_dict()
    report["official"] = None
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(records, handle, indent=1)
    if args.results or (fmt in OFFICIAL and n is not None):
        report["official"] = write_and_score(args.data, fmt, dataset, n, answered, args.results)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_report(report, f"{args.data} with {predictor.path}")
    return 0


def print_report(report: dict, title: str) -> None:
    """A table of accuracy overall and per family, the skips by reason, and the official metrics."""
    from rich.table import Table

    from jarvl.cli.console import console
    from jarvl.evaluation.official import OFFICIAL

    out = console()
    out.print(f"[bold]{title}")
    table = Table()
    table.add_column("group")
    table.add_column("exact match", justify="right")
    for fam, acc in sorted(report["per_family"].items()):
        table.add_row(fam, f"{100 * acc:.1f}%")
    table.add_row("[bold]overall", f"[bold]{100 * report['accuracy']:.1f}%")
    out.print(table)
    skips = report["skips"]
    reasons = ", ".join(f"{reason} {k}" for reason, k in sorted(skips["by_reason"].items()))
    out.print(f"{report['n']} records scored, {report['skipped']} skipped" + (f" ({reasons})" if reasons else ""))
    for reason, examples in sorted(skips["examples"].items()):
        out.print(f"  {reason}: e.g. {'; '.join(examples)}", markup=False, highlight=False)
    official = report.get("official")
    if not official:
        return
    if official["results"]:
        out.print(f"wrote {official['n']} {official['format']} results to {official['results']}", markup=False)
    rows = _metric_rows({k: v for k, v in official.items() if k not in ("format", "results", "n", "unanswered", "balanced")})
    if not rows:
        if official["format"] in OFFICIAL:
            out.print("no annotations (a test split?): submit the results file to the benchmark's server")
        return
    table = Table(title=f"official {official['format']} metrics, {official['n']} records")
    table.add_column("metric")
    table.add_column("value (x100)", justify="right")
    for name, value in rows:
        table.add_row(name, "n/a" if value is None else f"{100 * value:.2f}")
    out.print(table)
    if official["unanswered"]:
        out.print(f"unanswered: {official['unanswered']} (skipped for their image; in the results with an empty answer, counted wrong)")
    if "per_question_type" in official:
        out.print("per question type: see --json")


def _metric_rows(metrics: dict, prefix: str = "") -> list[tuple[str, float | None]]:
    """Metric entries as (name, value) rows; nested per-group dicts become ``group/name`` rows."""
    from jarvl.config import flatten_dict

    # VQA has 65 question types: --json lists them.
    return list(flatten_dict({k: v for k, v in metrics.items() if k != "per_question_type"}, prefix, sep="/").items())
