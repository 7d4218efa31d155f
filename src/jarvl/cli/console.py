"""A rich console that does not squeeze tables when output goes to a file or a pipe."""

from __future__ import annotations

import sys

from rich.console import Console


def console() -> Console:
    """Terminal width on a terminal; 200 columns otherwise (logs, README captures, CI)."""
    return Console() if sys.stdout.isatty() else Console(width=200)
