"""MixtureSampler: picks, for each training step, which dataset that step's batch comes from.

Call order in a training loop (every rank, every step)::

    name = sampler.choose(step)                  # same on every rank: counter-based RNG
    loss = train_step(next(iterators[name]))
    loss = all_reduce_mean(loss)                 # REQUIRED under DDP: ranks must feed equal signals
    sampler.update(name, loss.item(), step)

``choose`` draws with a generator seeded by ``(config.seed, step)``: it has no RNG state of its
own, so the draw at step t depends only on the seed, t and the weights. The weights depend only
on the sequence of ``update`` calls, so ranks that see the same all-reduced losses in the same
order hold bitwise-equal weights and choose the same dataset; a rank that feeds its local loss
drifts apart and the ranks then train on different datasets in the same step.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from jarvl.config import ConfigError, to_dict
from jarvl.registry import did_you_mean

from .base import LOSS_LIMIT, apply_floor
from .config import MixtureConfig
from .registry import STRATEGIES

FORMAT = "jarvl.mixture/1"


class MixtureSampler:
    """Chooses the dataset of each step's batch from a (possibly adaptive) mixture distribution.

    Args:
        names: the K dataset names (unique).
        sizes: the K dataset sizes in examples (> 0), used by the size-based priors.
        config: strategy and parameters; ``MixtureConfig()`` (proportional) when omitted.

    Raises:
        ConfigError: at construction, for anything that can be checked before training: a name in
            ``weights``/``reference``/``start_weights`` that is not a dataset (with a suggestion),
            a floor too high for K datasets, a dataset missing from ``fixed`` weights.
    """

    def __init__(self, names: list[str], sizes: list[int], config: MixtureConfig | None = None) -> None:
        config = MixtureConfig() if config is None else config
        names = [str(n) for n in names]
        if not names:
            raise ConfigError("a mixture needs at least one dataset")
        if len(set(names)) != len(names):
            raise ConfigError(f"dataset names must be unique, got {names}")
        if len(sizes) != len(names):
            raise ConfigError(f"got {len(sizes)} sizes for {len(names)} datasets")
        for name, size in zip(names, sizes):
            if not size > 0:
                raise ConfigError(f"dataset {name!r} has size {size!r}; sizes must be > 0")
        if len(names) * config.min_weight >= 1.0:
            raise ConfigError(
                f"mixture.min_weight={config.min_weight} is too high for {len(names)} datasets "
                f"(needs K * min_weight < 1, i.e. < {1 / len(names):.4g})"
            )
        for key in ("weights", "reference", "start_weights"):
            for name in getattr(config, key):
                if name not in names:
                    raise ConfigError(
                        f"mixture.{key}: {name!r} is not a dataset of this mixture{did_you_mean(name, names, cutoff=0.5, list_valid=True)}"
                    )
        self.names = names
        self.config = config
        self._index = {n: i for i, n in enumerate(names)}
        array = np.asarray(sizes, dtype=np.float64)
        prior = STRATEGIES[config.prior](names, array, config, None).distribution(0)
        self.strategy = STRATEGIES[config.strategy](names, array, config, prior)
        self.step = 0
        self.skipped = 0

    def index(self, name: str) -> int:
        """The position of dataset ``name``; a ``KeyError`` with a suggestion for an unknown name."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(
                f"{name!r} is not a dataset of this mixture{did_you_mean(name, self.names, cutoff=0.5, list_valid=True)}"
            ) from None

    def probabilities(self, step: int | None = None) -> np.ndarray:
        """float64[K]: the distribution at ``step`` (default: the last step seen), floor applied."""
        step = self.step if step is None else step
        return apply_floor(self.strategy.distribution(step), self.config.min_weight)

    def weights(self, step: int | None = None) -> dict[str, float]:
        """``{name: probability}`` at ``step`` (default: the last step seen): >= min_weight, sums to 1."""
        return dict(zip(self.names, self.probabilities(step).tolist()))

    def choose(self, step: int) -> str:
        """The dataset of the batch of ``step`` (>= 0). Idempotent: no RNG state is consumed."""
        _check_step(step)
        self.step = step
        p = self.probabilities(step)
        u = np.random.default_rng([self.config.seed, step]).random()
        return self.names[min(int(np.searchsorted(np.cumsum(p), u, side="right")), len(p) - 1)]

    def update(self, name: str, loss: float, step: int) -> None:
        """Feed the training loss of ``step``'s batch, drawn from ``name``; adaptive strategies learn from it.

        Under DDP ``loss`` must be the all-reduced (mean over ranks) loss, identical on every rank.
        A non-finite loss (e.g. an fp16 overflow the grad scaler skips) is ignored, counted in
        ``skipped`` and warned about once; finite losses are clipped to +-1e12.
        """
        _check_step(step)
        i = self.index(name)
        self.step = step
        loss = float(loss)
        if not math.isfinite(loss):
            if self.skipped == 0:
                warnings.warn(f"mixture: ignoring non-finite loss {loss} of {name!r} at step {step}", stacklevel=2)
            self.skipped += 1
            return
        prob = float(self.probabilities(step)[i])  # the probability this batch was drawn with
        self.strategy.observe(i, min(max(loss, -LOSS_LIMIT), LOSS_LIMIT), step, prob)

    def update_reference(self, name: str, loss: float) -> None:
        """Feed a reference model's loss on a batch of ``name`` (all-reduced under DDP).

        Only ``excess_loss`` uses it (as its reference loss); other strategies ignore it, so a
        trainer may always call it. Non-finite losses are ignored.
        """
        loss = float(loss)
        if math.isfinite(loss):
            self.strategy.observe_reference(self.index(name), min(max(loss, -LOSS_LIMIT), LOSS_LIMIT))

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the same schedule, as JSON-serialisable plain python types."""
        return {
            "format": FORMAT,
            "strategy": self.config.strategy,
            "names": list(self.names),
            "config": to_dict(self.config),
            "step": self.step,
            "skipped": self.skipped,
            "strategy_state": self.strategy.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``; the datasets and strategy must match (the config may differ otherwise)."""
        if state.get("format") != FORMAT:
            raise ValueError(f"not a mixture sampler state (format {state.get('format')!r}, expected {FORMAT!r})")
        if state["names"] != self.names:
            raise ValueError(f"mixture state is for datasets {state['names']}, this sampler has {self.names}")
        if state["strategy"] != self.config.strategy:
            raise ValueError(f"mixture state is for strategy {state['strategy']!r}, not {self.config.strategy!r}")
        self.strategy.load_state_dict(state["strategy_state"])
        self.step = int(state["step"])
        self.skipped = int(state["skipped"])


def _check_step(step: int) -> None:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
