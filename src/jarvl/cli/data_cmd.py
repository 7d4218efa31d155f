"""``jarvl data``: dataset tools; ``jarvl data synth --out DIR`` writes the synthetic dataset.

Writers live in ``EXPORTERS`` (format name -> function(samples, out_dir, overwrite) -> index path);
``--format`` offers every entry, so a new on-disk format is one function and one dict entry.
"""

from __future__ import annotations

import argparse
import collections
import functools
from collections.abc import Callable, Iterable
from pathlib import Path

from jarvl.cli.arguments import SEED, check_output_dir, int_in
from jarvl.data.export_vqa2 import write_vqa2
from jarvl.data.readers.jsonl import write_jsonl_dataset
from jarvl.data.schema import TASKS, Sample
from jarvl.data.synthetic import SPLITS, SynthConfig, SyntheticDataset

Exporter = Callable[[Iterable[Sample], Path, bool], Path]
EXPORTERS: dict[str, Exporter] = {"jsonl": write_jsonl_dataset, "vqa2": write_vqa2}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data`` and its subcommands to the ``jarvl`` parser."""
    data = subparsers.add_parser("data", help="dataset tools (write the synthetic dataset to disk)")
    data.set_defaults(func=lambda args: data.print_help())
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    p = sub.add_parser(
        "synth",
        help="write synthetic samples as images + an index",
        description="Generate the built-in synthetic dataset and write it to disk "
        "(PNG images under DIR/images and DIR/index.jsonl for --format jsonl).",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    p.add_argument("--task", choices=TASKS, default="vqa", help="which task (default: vqa)")
    p.add_argument("--n", type=int_in(1), default=1000, help="number of samples (default: 1000)")
    p.add_argument(
        "--split",
        choices=SPLITS,
        default="train",
        help="train/val/test (condition A) or comp (held-out shape-colour pairs); default: train",
    )
    p.add_argument("--seed", type=SEED, default=0, help="dataset seed (default: 0)")
    defaults = SynthConfig()
    p.add_argument(
        "--min-objects",
        type=int_in(1, 64),
        default=defaults.min_objects,
        help=f"fewest objects per image (default: {defaults.min_objects})",
    )
    p.add_argument(
        "--max-objects", type=int_in(1, 64), default=defaults.max_objects, help=f"most objects per image (default: {defaults.max_objects})"
    )
    p.add_argument(
        "--image-size", type=int_in(16, 4096), default=defaults.image_size, help=f"image side in pixels (default: {defaults.image_size})"
    )
    p.add_argument(
        "--format",
        choices=sorted(EXPORTERS),
        default="jsonl",
        help="on-disk format (default: jsonl, see jarvl.data.readers.jsonl; vqa2: jarvl.data.export_vqa2)",
    )
    p.add_argument(
        "--vqa-split",
        metavar="NAME",
        help="split name in the VQA v2 file names with --format vqa2 (default: train2014 for --split train, val2014 otherwise)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset in --out")
    p.set_defaults(func=synth)


def synth(args: argparse.Namespace) -> int:
    """Generate ``args.n`` synthetic samples, export them, print how many per family."""
    check_output_dir(args.out, "--out")
    config = SynthConfig(min_objects=args.min_objects, max_objects=args.max_objects, image_size=args.image_size)
    dataset = SyntheticDataset(args.task, args.split, args.n, args.seed, config)
    families: collections.Counter[str] = collections.Counter()

    def counted() -> Iterable[Sample]:
        for sample in dataset:
            families[sample.family] += 1
            yield sample

    exporter = EXPORTERS[args.format]
    if args.vqa_split:
        if args.format != "vqa2":
            raise ValueError(f"--vqa-split applies to --format vqa2 only, not --format {args.format}")
        exporter = functools.partial(exporter, split=args.vqa_split)
    index = exporter(counted(), args.out, args.overwrite)
    print(f"wrote {args.n} {args.task} samples (split {args.split}, seed {args.seed}) to {index}")
    print("per family: " + ", ".join(f"{k} {v}" for k, v in sorted(families.items())))
    return 0
