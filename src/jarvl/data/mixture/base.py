"""The strategy contract and the arithmetic every strategy shares.

A strategy maps what it has seen (dataset sizes, config, per-step losses) to a distribution
``float64[K]`` over the K datasets. ``MixtureSampler`` owns names, the RNG and the floor; a
strategy owns only its signals. Strategies are registered by name with ``@register_strategy`` (``registry.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .config import MixtureConfig

# Losses are clipped to +-LOSS_LIMIT so EMAs and their differences stay finite for any input.
LOSS_LIMIT = 1e12


class Strategy:
    """Base class: a distribution over datasets, optionally adapted from training signals.

    Args:
        names: the K dataset names, in sampler order.
        sizes: int[K] examples per dataset (> 0).
        config: the mixture config (strategy parameters).
        prior: float64[K] distribution the strategy starts from (``config.prior``); ``None`` for
            the strategies that can be priors themselves.
    """

    name: ClassVar[str] = ""

    def __init__(self, names: list[str], sizes: np.ndarray, config: MixtureConfig, prior: np.ndarray | None) -> None:
        self.names = names
        self.sizes = sizes
        self.config = config
        self.prior = prior

    def distribution(self, step: int) -> np.ndarray:
        """float64[K], non-negative, sums to 1: the weights at ``step`` before the floor."""
        raise NotImplementedError

    def observe(self, index: int, loss: float, step: int, prob: float) -> None:
        """The (all-reduced, finite, clipped) training loss of a batch drawn from dataset ``index``.

        ``prob`` is the probability (after the floor) with which that dataset was drawn at ``step``.
        Static strategies ignore it.
        """

    def observe_reference(self, index: int, loss: float) -> None:
        """A reference model's loss on a batch of dataset ``index``; only ``excess_loss`` uses it."""

    def state_dict(self) -> dict[str, Any]:
        """The strategy's signals as JSON-serialisable plain python types."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""


class AdaptiveStrategy(Strategy):
    """A strategy whose weights follow signals measured during training.

    Signals are absorbed at every ``observe``; the distribution used for sampling is recomputed
    after every ``config.update_every``-th observation and held in between, so that it changes
    at a controlled rate and the importance weight 1/p of each draw is the p it was drawn with.
    Subclasses implement ``_absorb`` and ``_compute`` and list their per-dataset arrays in ``_arrays``.
    """

    _arrays: ClassVar[tuple[str, ...]] = ()

    def __init__(self, names: list[str], sizes: np.ndarray, config: MixtureConfig, prior: np.ndarray | None) -> None:
        super().__init__(names, sizes, config, prior)
        assert prior is not None
        k = len(names)
        for attr in self._arrays:
            setattr(self, attr, np.zeros(k, dtype=np.int64 if attr.endswith("count") else np.float64))
        self.observations = 0
        self.current = prior.copy()

    def distribution(self, step: int) -> np.ndarray:
        return self.current

    def observe(self, index: int, loss: float, step: int, prob: float) -> None:
        self._absorb(index, loss, prob)
        self.observations += 1
        if self.observations % self.config.update_every == 0:
            self.current = self._compute()

    def _absorb(self, index: int, loss: float, prob: float) -> None:
        raise NotImplementedError

    def _compute(self) -> np.ndarray:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {attr: getattr(self, attr).tolist() for attr in self._arrays}
        state["observations"] = self.observations
        state["current"] = self.current.tolist()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        k = len(self.names)
        for attr in (*self._arrays, "current"):
            value = np.asarray(state[attr], dtype=np.int64 if attr.endswith("count") else np.float64)
            if value.shape != (k,):
                raise ValueError(f"mixture state '{attr}' has {value.size} entries for {k} datasets")
            setattr(self, attr, value)
        self.observations = int(state["observations"])


def ema(old: float, new: float, decay: float, first: bool) -> float:
    """Exponential moving average ``decay * old + (1 - decay) * new``; the first value starts it (no bias)."""
    return new if first else decay * old + (1.0 - decay) * new


def blend_with_prior(prior: np.ndarray, logits: np.ndarray, has_signal: np.ndarray) -> np.ndarray:
    """Datasets without signal keep their prior weight; the others share the rest by prior * exp(logit).

    Args:
        prior: float64[K] distribution.
        logits: float64[K] adaptive scores (only those where ``has_signal`` matter).
        has_signal: bool[K].

    Returns:
        float64[K] distribution (sums to 1). Computed in log space, so any finite logits are safe.
    """
    out = prior.copy()
    mass = prior[has_signal].sum()
    if not has_signal.any() or mass <= 0:
        return out
    big = np.finfo(np.float64).max
    z = np.nan_to_num(logits[has_signal], nan=0.0, posinf=big, neginf=-big)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        z = z + np.log(prior[has_signal])  # log 0 = -inf: a dataset with no prior mass stays at 0
        w = np.exp(z - z.max())
    w = np.nan_to_num(w, nan=0.0)
    out[has_signal] = mass * w / w.sum()
    return out


def apply_floor(q: np.ndarray, floor: float) -> np.ndarray:
    """The closest-in-ratio distribution to ``q`` with every entry >= ``floor``.

    Entries below the floor are raised to it and the others are scaled down together (repeated
    until none falls below), so a distribution already above the floor is returned unchanged.
    Needs ``K * floor < 1``.

    Args:
        q: float64[K], non-negative, not all zero.
        floor: the least probability of any dataset.

    Returns:
        float64[K], sums to 1, every entry >= floor.
    """
    k = q.size
    q = np.where(np.isfinite(q) & (q > 0), q, 0.0)
    q = q / q.sum() if q.sum() > 0 else np.full(k, 1.0 / k)
    p = q.copy()
    pinned = np.zeros(k, dtype=bool)
    for _ in range(k):
        low = (p < floor) & ~pinned
        if not low.any():
            break
        pinned |= low
        free = ~pinned
        rest = 1.0 - floor * pinned.sum()
        p[pinned] = floor
        total = q[free].sum()
        p[free] = q[free] / total * rest if total > 0 else rest / free.sum()
    return p
