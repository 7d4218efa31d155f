"""Static strategies: the weights depend only on dataset sizes and config. Each can also be a prior."""

from __future__ import annotations

import numpy as np

from jarvl.config import ConfigError

from .base import Strategy
from .registry import register_strategy


@register_strategy("proportional")
class Proportional(Strategy):
    """p_i = n_i / sum_j n_j: every example equally likely, as if the datasets were concatenated."""

    def distribution(self, step: int) -> np.ndarray:
        return self.sizes / self.sizes.sum()


@register_strategy("uniform")
class Uniform(Strategy):
    """p_i = 1 / K: every dataset equally likely, whatever its size."""

    def distribution(self, step: int) -> np.ndarray:
        return np.full(len(self.names), 1.0 / len(self.names))


@register_strategy("temperature")
class Temperature(Strategy):
    """p_i ∝ n_i^(1/T) (multilingual-BERT/XLM/mT5 style up-sampling of small datasets); T=1 is proportional."""

    def distribution(self, step: int) -> np.ndarray:
        logits = np.log(self.sizes) / self.config.temperature  # in log space: sizes^(1/T) may overflow
        w = np.exp(logits - logits.max())
        return w / w.sum()


@register_strategy("fixed")
class Fixed(Strategy):
    """p_i = w_i / sum_j w_j for the config's ``weights: {name: w}``, which must name every dataset."""

    def __init__(self, names, sizes, config, prior) -> None:  # noqa: ANN001 (as Strategy)
        super().__init__(names, sizes, config, prior)
        missing = [n for n in names if n not in config.weights]
        if missing:
            raise ConfigError(
                f"mixture.weights gives no weight to dataset(s) {', '.join(map(repr, missing))}; give each a weight "
                f"(0 keeps it at the floor mixture.min_weight)"
            )
        self.fixed = np.array([config.weights[n] for n in names], dtype=np.float64)
        if self.fixed.sum() <= 0:
            raise ConfigError("mixture.weights must not all be 0")

    def distribution(self, step: int) -> np.ndarray:
        return self.fixed / self.fixed.sum()
