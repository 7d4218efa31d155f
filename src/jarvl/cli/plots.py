"""Plots (PNG, matplotlib Agg): learning curves and example predictions on their images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(curves: dict[str, list[dict[str, Any]]], path: str | Path, *, x: str = "elapsed_s", title: str = "") -> Path:
    """Validation accuracy against ``x`` (``elapsed_s`` or ``samples``), one line per run name."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for name, evals in curves.items():
        xs = [e[x] / (60 if x == "elapsed_s" else 1) for e in evals]
        ax.plot(xs, [100 * e["accuracy"] for e in evals], marker="o", label=name)
    ax.set_xlabel("training time (minutes)" if x == "elapsed_s" else "training samples")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_examples(examples: list[dict[str, Any]], path: str | Path, cols: int = 4) -> Path:
    """A grid of images, each titled with its question, the model's answer and the truth.

    ``examples``: dicts with ``image`` uint8[H, W, 3], ``prompt``, ``prediction``, ``target``.
    """
    plt = _plt()
    rows = max(1, (len(examples) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.6 * rows), dpi=110)
    for ax, ex in zip(np.ravel(axes), examples):
        ax.imshow(ex["image"], interpolation="nearest")
        ok = ex["prediction"].strip() == ex["target"].strip()
        ax.set_title(
            f"{_wrap(ex['prompt'])}\nmodel: {ex['prediction']}   truth: {ex['target']}", fontsize=8, color="green" if ok else "red"
        )
    for ax in np.ravel(axes):
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def _wrap(text: str, width: int = 34) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width and line:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "\n".join(lines)
