"""Plot a mixture's weights over training (matplotlib's Agg canvas: no display needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence


def plot_weights(
    history: Sequence[dict[str, float]],
    path: str | os.PathLike,
    steps: Sequence[int] | None = None,
    title: str = "mixture weights",
) -> str:
    """Write a PNG with one line per dataset: its sampling probability against the step.

    Args:
        history: N snapshots of ``MixtureSampler.weights()``, ``{name: probability}``, oldest first.
            A dataset missing from a snapshot is drawn as a gap there.
        path: the PNG file to write (parent folders are created).
        steps: int[N] step of each snapshot; 0..N-1 when omitted.
        title: the figure title.

    Returns:
        ``path`` as a string.
    """
    # A Figure on an Agg canvas, not pyplot: no global backend switch, nothing left open.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not history:
        raise ValueError("plot_weights needs at least one snapshot of weights")
    xs = list(range(len(history))) if steps is None else list(steps)
    if len(xs) != len(history):
        raise ValueError(f"got {len(xs)} steps for {len(history)} snapshots")
    names = list(dict.fromkeys(name for snapshot in history for name in snapshot))
    fig = Figure(figsize=(7, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name in names:
        ax.plot(xs, [snapshot.get(name, float("nan")) for snapshot in history], label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    return str(path)
