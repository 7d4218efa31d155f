"""Data mixtures: which dataset each training step's batch comes from.

``MixtureSampler(names, sizes, MixtureConfig(...))`` with ``choose(step)``, ``update(name, loss,
step)``, ``weights()`` and ``state_dict()``. Strategies (one file per family) register themselves
by name; see docs/sampling.md for what each does. Plotting lives in ``jarvl.data.mixture_plot``.
"""

from __future__ import annotations

from . import curriculum, excess_loss, learning_progress, static  # noqa: F401  (register the strategies)
from .base import AdaptiveStrategy, Strategy
from .config import MixtureConfig
from .registry import PRIORS, STRATEGIES, register_strategy
from .sampler import MixtureSampler


def list_strategies() -> list[str]:
    """The registered strategy names, sorted."""
    return STRATEGIES.names()


__all__ = [
    "PRIORS",
    "STRATEGIES",
    "AdaptiveStrategy",
    "MixtureConfig",
    "MixtureSampler",
    "Strategy",
    "list_strategies",
    "register_strategy",
]
