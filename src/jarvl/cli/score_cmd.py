"""``jarvl score``: score a predictions file in a benchmark's official results format.

    jarvl score --data vqa2:/data/vqa:val2014 --predictions results.json
    jarvl score --data gqa:/data/gqa:testdev_balanced --predictions gqa.json --json

The results formats are listed in ``jarvl.evaluation.official``. A missing, unparsable or
incomplete predictions file is an error naming the file (exit status 2).
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``score`` subcommand."""
    p = sub.add_parser(
        "score",
        help="score predictions with the official metrics",
        description="Score a predictions file against a dataset with the benchmark's official metric. "
        'Formats: vqa2 [{"question_id", "answer"}], gqa [{"questionId", "prediction"}], '
        'snli-ve [{"pairID", "prediction"}], coco-captions [{"image_id", "caption"}], '
        'others [{"id", "prediction"}]. The table shows x100, as papers report; --json gives fractions.',
    )
    p.add_argument("--data", required=True, metavar="SPEC", help="dataset spec, e.g. vqa2:/data/vqa:val2014")
    p.add_argument("--predictions", required=True, metavar="FILE", help="results file (JSON array)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Score ``args.predictions`` on ``args.data`` and print the metrics."""
    from jarvl.evaluation.official import score_predictions

    result = score_predictions(args.data, args.predictions)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from rich.table import Table

    from jarvl.cli.console import console

    table = Table(title=f"{result['dataset']}: {result['n']} records scored, {result['skipped']} unusable records skipped")
    table.add_column("metric")
    table.add_column("value (x100)", justify="right")
    for name, value in _rows(result):
        table.add_row(name, "n/a" if value is None else f"{100 * value:.2f}")
    out = console()
    out.print(table)
    if result["unmatched_predictions"]:
        out.print(f"{result['unmatched_predictions']} predictions matched no record of {result['dataset']} (ignored)")
    return 0


def _rows(result: dict, prefix: str = "") -> list[tuple[str, float | None]]:
    """Flatten the metric entries (nested per-group dicts become ``group/name`` rows)."""
    from jarvl.config import flatten_dict

    skip = ("dataset", "predictions", "n", "skipped", "unmatched_predictions", "balanced") if not prefix else ()
    return list(flatten_dict({k: v for k, v in result.items() if k not in skip}, prefix, sep="/").items())
