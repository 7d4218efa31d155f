"""Curriculum: a step-dependent schedule from a start distribution (e.g. clean data) to the prior."""

from __future__ import annotations

import numpy as np

from jarvl.config import ConfigError

from .base import Strategy
from .registry import register_strategy


@register_strategy("curriculum")
class Curriculum(Strategy):
    """p(t) = (1 - a) * start + a * prior with a = min(1, t / warmup_steps): clean-to-noisy.

    ``start`` is the config's ``start_weights`` normalised (datasets left out start at 0, then
    the sampler's floor); ``prior`` is the config's ``prior`` (proportional by default). Not
    adaptive: it ignores losses, so it is a pure function of the step.
    """

    def __init__(self, names, sizes, config, prior) -> None:  # noqa: ANN001 (as Strategy)
        super().__init__(names, sizes, config, prior)
        start = np.array([config.start_weights.get(n, 0.0) for n in names], dtype=np.float64)
        if start.sum() <= 0:
            raise ConfigError("strategy 'curriculum' needs mixture.start_weights with a positive weight, e.g. {clean_set: 1.0}")
        self.start = start / start.sum()

    def distribution(self, step: int) -> np.ndarray:
        warmup = self.config.warmup_steps
        a = 1.0 if warmup == 0 else min(1.0, max(0, step) / warmup)
        return (1.0 - a) * self.start + a * self.prior
