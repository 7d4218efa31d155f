"""The registry of mixture strategies (``MixtureConfig.strategy``) and which of them can be priors.

Below both the strategy contract (``base.py``) and the config (``config.py``), so that the config
checks a strategy name without importing the strategies, and they import the config, not the
other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from jarvl.registry import Registry

S = TypeVar("S", bound=type)

STRATEGIES: Registry[type] = Registry("mixture strategy", sort_names=True)
# Strategies whose distribution depends only on sizes and config: the ones a prior can be.
PRIORS = ("proportional", "fixed", "temperature", "uniform")


def register_strategy(name: str) -> Callable[[S], S]:
    """Class decorator: make a ``Strategy`` subclass selectable as ``MixtureConfig.strategy=name``."""

    def wrap(cls: S) -> S:
        cls.name = name
        return STRATEGIES.register(name, cls)

    return wrap
