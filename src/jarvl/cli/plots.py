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


def plot_curves(
    curves: dict[str, list[dict[str, Any]]],
    path: str | Path,
    *,
    x: str = "elapsed_s",
    title: str = "",
    baseline: tuple[str, float] | None = None,
) -> Path:
    """Validation accuracy against ``x`` (``elapsed_s`` or ``samples``), one line per run name;
    ``baseline`` (label, accuracy in [0, 1]) a horizontal line (the text-only prior)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for name, evals in curves.items():
        xs = [e[x] / (60 if x == "elapsed_s" else 1) for e in evals]
        ax.plot(xs, [100 * e["accuracy"] for e in evals], marker="o", label=name)
    if baseline is not None:
        ax.axhline(100 * baseline[1], color="grey", ls="--", lw=1, label=f"{baseline[0]} ({100 * baseline[1]:.1f}%)")
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


def plot_attention(rows: list[dict[str, Any]], path: str | Path, *, grid: int, max_maps: int, title: str) -> Path:
    """One row per image: the image titled with question / answer / truth, then up to ``max_maps`` maps on it.

    ``rows``: dicts with ``image`` uint8[H, W, 3], ``prompt``, ``prediction``, ``target``, ``maps``
    float[K][grid*grid] (each summing to 1), ``labels`` (K names) and ``entropy`` (K values, H / ln M).
    Each map is scaled to its own maximum, so a uniform map shows as a flat wash.
    """
    plt = _plt()
    shown = max(1, min(max_maps, max(len(r["maps"]) for r in rows)))
    fig, axes = plt.subplots(len(rows), shown + 1, figsize=(2.6 + 1.25 * shown, 2.1 * len(rows)), dpi=110, squeeze=False,
                             gridspec_kw={"width_ratios": [2.0] + [1.0] * shown})  # fmt: skip
    for i, r in enumerate(rows):
        image = r["image"]
        h, w = image.shape[:2]
        ok = r["prediction"].strip() == r["target"].strip()
        axes[i][0].imshow(image, interpolation="nearest")
        axes[i][0].set_title(f"{_wrap(r['prompt'], 30)}\nmodel: {r['prediction']}  truth: {r['target']}", fontsize=7,
                             color="green" if ok else "red")  # fmt: skip
        for k in range(shown):
            ax = axes[i][k + 1]
            if k >= len(r["maps"]):
                continue
            cells = np.asarray(r["maps"][k]).reshape(grid, grid)
            ax.imshow(image, interpolation="nearest")
            ax.imshow(cells, cmap="inferno", alpha=0.65, interpolation="bilinear", extent=(0, w, h, 0), vmin=0, vmax=cells.max())
            ax.set_xlim(0, w)
            ax.set_ylim(h, 0)
            ax.set_title(r["labels"][k], fontsize=7)
            ax.set_xlabel(f"H {r['entropy'][k]:.2f}", fontsize=6, labelpad=1)
    for ax in np.ravel(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
