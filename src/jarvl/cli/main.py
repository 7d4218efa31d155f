"""Entry point of the ``jarvl`` command: ``jarvl --help`` lists every subcommand."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Subcommand modules, in the order ``--help`` lists them. Each exposes ``register(subparsers)``
# which adds its parser and sets ``func`` to a callable taking the parsed namespace.
SUBCOMMANDS = ("demo", "train", "eval", "predict", "inspect", "serve", "score", "data", "models", "profile")


def _quiet_threads() -> None:
    # With another busy process on the machine, OpenMP spin-waiting slowed a 2-thread run ~30x;
    # passive waiting costs nothing measurable when the machine is idle. Must precede torch import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("KMP_BLOCKTIME", "0")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available subcommand registered."""
    from jarvl.cli.arguments import OneLineParser

    parser = OneLineParser(
        prog="jarvl",
        description="Joint Adaptive Representations for image-language learning.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"jarvl.cli.{name}_cmd").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``jarvl`` command line; returns the process exit status."""
    _quiet_threads()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from jarvl.errors import RunAborted

    try:
        result = args.func(args)
    except (ValueError, FileNotFoundError, KeyError, RunAborted) as err:
        # Boundary errors (bad config, bad file, unknown key, data too damaged to train on, a
        # non-finite loss) are user errors: one message, no traceback (JARVL_DEBUG=1 shows it).
        if os.environ.get("JARVL_DEBUG"):
            raise
        print(f"jarvl {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
