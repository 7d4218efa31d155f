"""Command-line arguments checked at the door: numeric ranges, writable output paths, one-line errors.

Every numeric option of every subcommand takes its ``type=`` from :func:`int_in` or
:func:`float_in`, so a value out of range is refused while the arguments are parsed: before any
import of torch, any file written or any data read. :class:`OneLineParser` reports every parse
error as one line (``jarvl train: error: argument --max-steps: ...``) with exit status 2, the same
shape as the boundary errors ``jarvl.cli.main`` prints. ``tests/test_cli_arguments.py`` feeds
random out-of-range values to every option built this way.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from dataclasses import dataclass
from typing import NoReturn

from jarvl.devices import DEVICE_PATTERN


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see PROG --help)`` and exit with status 2."""
        message = " ".join(message.split())  # argparse's own messages may wrap
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


@dataclass(frozen=True)
class Range:
    """An argparse ``type=`` that parses a number and checks ``lo <= value <= hi``.

    ``kind`` is int or float; ``hi`` None means no upper bound; ``lo_open`` makes the lower bound
    strict (``value > lo``, e.g. a learning rate). NaN and infinities are always refused.
    """

    kind: type
    lo: float
    hi: float | None = None
    lo_open: bool = False

    def describe(self) -> str:
        """The accepted range in words, e.g. ``an integer >= 1`` or ``a number in [0, 1]``."""
        what = "an integer" if self.kind is int else "a number"
        lo = f"{self.lo:g}"
        if self.hi is not None:
            return f"{what} in {'(' if self.lo_open else '['}{lo}, {self.hi:g}]"
        return f"{what} {'>' if self.lo_open else '>='} {lo}"

    def accepts(self, value: float) -> bool:
        """Whether an already parsed ``value`` lies in the range."""
        if not math.isfinite(value):
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        return above and (self.hi is None or value <= self.hi)

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text!r}") from None
        if not self.accepts(value):
            raise argparse.ArgumentTypeError(f"must be {self.describe()}, got {text!r}")
        return value


def int_in(lo: int, hi: int | None = None) -> Range:
    """``type=`` for an integer option in ``[lo, hi]`` (no upper bound when ``hi`` is None)."""
    return Range(int, lo, hi)


def float_in(lo: float, hi: float | None = None, *, lo_open: bool = False) -> Range:
    """``type=`` for a finite float option in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    return Range(float, lo, hi, lo_open)


def device_name(text: str) -> str:
    """``type=`` for ``--device``: auto, cpu, cuda, cuda:N or mps (whether it exists is checked at the start)."""
    if not re.fullmatch(DEVICE_PATTERN, text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda, cuda:N or mps, got {text!r}")
    return text


def check_output_dir(path: str | os.PathLike, flag: str) -> None:
    """Refuse an output folder that could not be created or written, before any work is done.

    Raises:
        ValueError: ``path`` exists and is not a folder, or its nearest existing parent is not a
            writable folder.
    """
    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path}: exists and is not a folder")
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"{flag} {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: {existing} is not writable")


SEED = int_in(0, 2**32 - 1)  # numpy and torch both accept seeds in this range
BEAMS = int_in(1, 64)
BATCH = int_in(1, 1 << 16)


def check_output_file(path: str | None, flag: str) -> None:
    """Refuse an output file that could not be written, before any work is done.

    Raises:
        ValueError: ``path`` is a directory, its folder does not exist or is not writable.
    """
    if path is None:
        return
    if os.path.isdir(path):
        raise ValueError(f"{flag} {path}: is a directory; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{flag} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ValueError(f"{flag} {path}: not writable")
