"""Plots of the benchmark pages (PNG, matplotlib Agg), drawn from their summaries.

Each function takes the plain numbers it draws (mean and std over seeds), never a model or run.
"""

from __future__ import annotations

from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _pct(v: float | None) -> float:
    return float("nan") if v is None else 100 * v


def accuracy_vs_gflops(
    panels: dict[str, dict[str, dict]], path: Path, *, baselines: dict[str, float] | None = None, title: str = ""
) -> Path:
    """The paper's Figure 1: held-out accuracy (mean +- std over seeds) against GFLOPs per sample.

    ``panels``: task -> arm -> ``{"gflops", "mean", "std"}``; one panel per task, one point per
    arm with vertical error bars. ``baselines``: task -> text-only accuracy (a dashed line).
    """
    plt = _plt()
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5.2 * max(1, len(panels)), 4.2), dpi=120, squeeze=False)
    for ax, (task, arms) in zip(axes[0], panels.items()):
        for i, (arm, p) in enumerate(arms.items()):
            ax.errorbar([p["gflops"]], [_pct(p["mean"])], yerr=[_pct(p["std"])], fmt="o", capsize=4, color=f"C{i}", label=arm)
            ax.annotate(arm, (p["gflops"], _pct(p["mean"])), textcoords="offset points", xytext=(6, 4), fontsize=8)
        if baselines and baselines.get(task) is not None:
            ax.axhline(_pct(baselines[task]), ls="--", color="grey", lw=1, label="text-only")
        ax.set_xlabel("GFLOPs per sample (forward, 2 x MACs)")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title(task)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(plt, fig, path, title)


def accuracy_vs_time(panels: dict[str, dict[str, list[dict]]], path: Path, *, title: str = "") -> Path:
    """Validation accuracy against training time (evaluations excluded), mean over seeds with a +-std band.

    ``panels``: task -> arm -> points ``{"train_s", "accuracy", "std"}``; one panel per task.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5.2 * max(1, len(panels)), 4.2), dpi=120, squeeze=False)
    for ax, (task, arms) in zip(axes[0], panels.items()):
        for i, (arm, pts) in enumerate(arms.items()):
            xs = [p["train_s"] / 60 for p in pts]
            ys = [_pct(p["accuracy"]) for p in pts]
            sd = [_pct(p.get("std") or 0.0) for p in pts]
            ax.plot(xs, ys, marker="o", ms=3, color=f"C{i}", label=arm)
            ax.fill_between(xs, [y - s for y, s in zip(ys, sd)], [y + s for y, s in zip(ys, sd)], color=f"C{i}", alpha=0.15)
        top = max([_pct(p["accuracy"]) + _pct(p.get("std") or 0.0) for pts in arms.values() for p in pts] + [0.0])
        ax.set_ylim(0, min(100.0, top + 10))
        ax.set_xlabel("training time (minutes, evaluation excluded)")
        ax.set_ylabel("validation accuracy (%)")
        ax.set_title(task)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(plt, fig, path, title)


def ablation_bars(groups: dict[str, list[dict]], path: Path, *, baseline: float | None = None, title: str = "") -> Path:
    """One bar chart per knob: accuracy (mean +- std over seeds) per value, GFLOPs written on each bar.

    ``groups``: knob -> ``[{"value", "mean", "std", "gflops", "default"}]`` in display order;
    the default value's bar is outlined. ``baseline``: text-only accuracy (a dashed line).
    """
    plt = _plt()
    n = max(1, len(groups))
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), dpi=120, squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax, (knob, bars) in zip(flat, groups.items()):
        xs = range(len(bars))
        ys = [_pct(b["mean"]) for b in bars]
        ax.bar(
            xs,
            ys,
            yerr=[_pct(b["std"]) for b in bars],
            capsize=4,
            color=[f"C{i}" for i in xs],
            edgecolor=["black" if b.get("default") else "none" for b in bars],
            linewidth=1.5,
        )
        for x, y, b in zip(xs, ys, bars):
            if b.get("gflops") is not None:
                ax.annotate(f"{b['gflops']:.3f} GF", (x, y), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
        if baseline is not None:
            ax.axhline(_pct(baseline), ls="--", color="grey", lw=1)
        labels = [str(b["value"]) for b in bars]
        crowded = sum(len(t) for t in labels) > 32  # long arm names side by side overlap: slant them
        ax.set_xticks(list(xs), labels, rotation=30 if crowded else 0, ha="right" if crowded else "center", fontsize=8 if crowded else None)
        ax.set_title(knob)
        ax.set_ylabel("held-out accuracy (%)")
        ax.grid(alpha=0.3, axis="y")
        finite = [y for y in ys if y == y] + ([_pct(baseline)] if baseline is not None else [])
        if finite:
            ax.set_ylim(max(0.0, min(finite) - 10), min(100.0, max(finite) + 8))
    for ax in flat[len(groups) :]:
        ax.axis("off")
    return _save(plt, fig, path, title)


def _save(plt, fig, path: Path, title: str) -> Path:
    """Title, tight layout, write ``path``, close the figure."""
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
