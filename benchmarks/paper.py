"""The paper's figures, as data: ``benchmarks/paper/*.yaml`` (PAPER.md, Tables 2-4)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

PAPER = Path(__file__).resolve().parent / "paper"


@cache
def figures(table: str) -> dict:
    """``fusions`` (fusion -> {gflops, gqa, snli_ve?, memory_gb?}) or ``ablations`` (knob -> value -> {gflops, gqa})."""
    return yaml.safe_load((PAPER / f"{table}.yaml").read_text())
