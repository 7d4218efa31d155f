"""An experiment config: ``benchmarks/configs/NAME.yaml``, read into typed dataclasses.

Every config names its ``kind`` (how it is measured: ``benchmarks/kinds``), the kind's
``settings``, the ``arms`` it compares, the ``findings`` it judges, and what ``--quick`` changes.
An unknown key or a wrong type is an error naming the key (``jarvl.config.from_dict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from jarvl.config import ConfigError, apply_overrides, from_dict, load_yaml

CONFIGS = Path(__file__).resolve().parent / "configs"
Test = Literal["threshold", "ratio", "within_std", "order", "diminishing", "ratio_falls"]
Rule = Literal["on the means", "beyond the seed spread"]


@dataclass
class Arm:
    """One thing compared: dotted overrides of the experiment's base config (``set``) and
    synthetic scene options of its data (``scene``, e.g. ``{image_size: 48}``)."""

    label: str
    set: dict[str, Any] = field(default_factory=dict)
    scene: dict[str, Any] = field(default_factory=dict)


@dataclass
class Finding:
    """A claim judged on the measurements, per task (see ``benchmarks/findings.py``).

    ``test``: ``threshold`` (every arm's metric within ``at_most`` / ``at_least``), ``ratio``
    (metric of arms[0] / arms[1] within ``at_most`` / ``at_least``),
    ``within_std`` (arms[0]'s mean >= arms[1]'s mean - its std), ``order`` (arms in strictly
    falling order), ``diminishing`` (arms in rising knob order: the last beats the first, the last
    step gains less than the first), ``ratio_falls`` (the ratio of each pair in ``pairs`` falls
    from pair to pair). ``pairs`` replaces ``arms`` to judge several (a, b) pairs at once: the
    finding holds when every pair does. ``rule``: ``on the means``, or ``beyond the seed spread``
    (every difference larger than the larger std of the two arms; otherwise not judged).
    ``paired``: a ratio of same-seed pairs, not judged when those ratios vary by more than ``max_cv``.
    """

    claim: str
    test: Test
    metric: str = "test"
    arms: list[str] = field(default_factory=list)
    pairs: list[list[str]] = field(default_factory=list)
    at_most: float | None = None
    at_least: float | None = None
    rule: Rule = "on the means"
    paired: bool = False
    max_cv: float = 0.15
    tasks: list[str] = field(default_factory=list)  # default: every task measured
    paper: str = ""  # the paper's figures for the claim, shown beside ours
    must_show: bool = True  # an issue's must-show (False: reported as context)


@dataclass
class Quick:
    """What ``--quick`` changes: dotted overrides of ``settings``, the arms and tasks kept."""

    set: dict[str, Any] = field(default_factory=dict)
    arms: list[str] = field(default_factory=list)  # default: all
    tasks: list[str] = field(default_factory=list)  # default: all


@dataclass
class Experiment:
    """One config file. ``settings`` is checked by its kind's own ``Settings`` dataclass."""

    kind: str
    title: str
    description: str = ""
    tasks: list[str] = field(default_factory=lambda: ["vqa"])
    settings: dict[str, Any] = field(default_factory=dict)
    arms: list[Arm] = field(default_factory=list)
    tables: dict[str, list[str]] = field(default_factory=dict)  # table name -> arm labels, for the page
    findings: list[Finding] = field(default_factory=list)
    quick: Quick = field(default_factory=Quick)
    name: str = ""  # the file's stem, filled in by load()

    def arm(self, label: str) -> Arm:
        return next(a for a in self.arms if a.label == label)


def load(path: str | Path, quick: bool = False) -> tuple[Experiment, Any]:
    """The experiment at ``path`` (a file, or a name in ``benchmarks/configs``) and its kind's typed
    settings, with ``--quick``'s changes applied when ``quick``."""
    from benchmarks.kinds import get_kind

    path = Path(path)
    if not path.suffix and not path.exists():
        path = CONFIGS / f"{path}.yaml"
    exp = from_dict(Experiment, load_yaml(str(path)))
    exp.name = path.stem
    kind = get_kind(exp.kind)
    settings = from_dict(kind.Settings, exp.settings, prefix="settings.")
    labels = [a.label for a in exp.arms]
    for f in exp.findings:
        for label in f.arms + [x for p in f.pairs for x in p]:
            if label not in labels:
                raise ConfigError(f"{path}: finding {f.claim!r} names arm {label!r}, not in arms ({', '.join(labels)})")
    if quick:
        settings = apply_overrides(settings, exp.quick.set, prefix="settings.")
        if exp.quick.arms:
            exp.arms = [exp.arm(label) for label in exp.quick.arms]
        if exp.quick.tasks:
            exp.tasks = list(exp.quick.tasks)
    return exp, settings


def all_configs() -> list[Path]:
    """Every config file in ``benchmarks/configs``, by name."""
    return sorted(CONFIGS.glob("*.yaml"))
