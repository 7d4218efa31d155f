"""A rich progress bar for training: step, loss, samples/s, skipped records, ETA."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress


class Progress:
    """Context manager; ``update`` after logging steps. Disabled: does nothing (other ranks, --quiet)."""

    def __init__(self, total: int, start: int, enabled: bool = True) -> None:
        self.enabled = enabled
        if enabled:
            self.bar = RichProgress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=False,
            )
            self.task = self.bar.add_task("train", total=total, completed=start, stats="")

    def __enter__(self) -> Progress:
        if self.enabled:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)

    def update(self, step: int, loss: float, rate: float, skips) -> None:
        """Show the latest figures."""
        if self.enabled:
            stats = f"loss {loss:.3f}  {rate:.0f} samples/s" + (f"  skipped {skips.skipped}" if skips.skipped else "")
            self.bar.update(self.task, completed=step, stats=stats)
