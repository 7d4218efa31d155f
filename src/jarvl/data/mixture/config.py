"""MixtureConfig: which strategy picks each batch's dataset, and the parameters of every strategy.

From a dict (YAML, dotted overrides): ``jarvl.config.from_dict(MixtureConfig, {...})``, which
rejects unknown keys and wrong types. Checks that need the dataset names (a weight for a dataset
that does not exist) happen when ``MixtureSampler`` is built, before training starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from jarvl.config import ConfigError
from jarvl.registry import did_you_mean

from .registry import PRIORS, STRATEGIES

PROGRESS = ("absolute", "decrease")


@dataclass(frozen=True)
class MixtureConfig:
    """A data mixture, written as ``{name: weight}`` where weights are needed (big_vision's habit).

    See docs/sampling.md for the equations. Parameters of strategies other than the selected one
    are ignored, except the per-dataset mappings, which are an error when nothing uses them.

    Attributes:
        strategy: proportional | fixed | temperature | uniform | curriculum | learning_progress | excess_loss.
        weights: ``{dataset: weight >= 0}`` for ``fixed`` (or ``prior: fixed``); normalised; every
            dataset needs one.
        temperature: T > 0 of ``temperature`` (weights ∝ size^(1/T); 1 = proportional, large = uniform).
        prior: the static distribution adaptive strategies and ``curriculum`` start from (and end at,
            for ``curriculum``): one of ``PRIORS``.
        min_weight: floor probability of every dataset, so none starves (needs K * min_weight < 1).
        update_every: adaptive strategies recompute their weights after every this many updates.
        lp_eta: learning rate of ``learning_progress``: log of the largest weight ratio it can put
            between the dataset with the most progress and one with none.
        lp_fast_decay: decay of the fast EMA of each dataset's loss (~1/(1-decay) draws of memory).
        lp_slow_decay: decay of the slow EMA (> lp_fast_decay).
        lp_reward_decay: decay of the smoothed importance-weighted reward (Albalak et al. 2023).
        lp_progress: ``absolute`` |slow - fast| (rises for forgetting too) or ``decrease`` max(0, slow - fast).
        excess_eta: learning rate of ``excess_loss`` (1 / loss units), DoReMi's step size.
        excess_decay: decay of the EMA of each dataset's loss (and reference loss).
        reference: ``{dataset: reference loss}`` for ``excess_loss``; datasets left out use the
            reference model's losses fed through ``update_reference``, else their lowest EMA loss.
        start_weights: ``{dataset: weight >= 0}`` that ``curriculum`` starts from (e.g. the clean
            sets only); datasets left out start at 0 (then the floor).
        warmup_steps: steps over which ``curriculum`` moves linearly from start_weights to the prior.
        seed: seed of the counter-based RNG: the draw at step t depends only on (seed, t, weights).
    """

    strategy: str = "proportional"
    weights: dict[str, float] = field(default_factory=dict)
    temperature: float = 2.0
    prior: str = "proportional"
    min_weight: float = 0.01
    update_every: int = 1
    lp_eta: float = 2.0
    lp_fast_decay: float = 0.9
    lp_slow_decay: float = 0.99
    lp_reward_decay: float = 0.9
    lp_progress: str = "absolute"
    excess_eta: float = 1.0
    excess_decay: float = 0.9
    reference: dict[str, float] = field(default_factory=dict)
    start_weights: dict[str, float] = field(default_factory=dict)
    warmup_steps: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            hint = did_you_mean(self.strategy, STRATEGIES.names(), cutoff=0.5, list_valid=True)
            raise ConfigError(f"mixture.strategy: unknown {self.strategy!r}{hint}")
        if self.prior not in PRIORS:
            raise ConfigError(
                f"mixture.prior: {self.prior!r} cannot be a prior{did_you_mean(self.prior, PRIORS, cutoff=0.5, list_valid=True)}"
            )
        if self.lp_progress not in PROGRESS:
            raise ConfigError(
                f"mixture.lp_progress: unknown {self.lp_progress!r}{did_you_mean(self.lp_progress, PROGRESS, cutoff=0.5, list_valid=True)}"
            )
        if not (0.0 < self.temperature < math.inf):
            raise ConfigError(f"mixture.temperature must be > 0 and finite, got {self.temperature!r}")
        for key in ("lp_eta", "excess_eta"):
            if not (0.0 <= getattr(self, key) < math.inf):
                raise ConfigError(f"mixture.{key} must be >= 0 and finite, got {getattr(self, key)!r}")
        for key in ("lp_fast_decay", "lp_slow_decay", "lp_reward_decay", "excess_decay"):
            if not (0.0 <= getattr(self, key) < 1.0):
                raise ConfigError(f"mixture.{key} must be in [0, 1), got {getattr(self, key)!r}")
        if self.lp_slow_decay <= self.lp_fast_decay:
            raise ConfigError(f"mixture.lp_slow_decay ({self.lp_slow_decay}) must exceed lp_fast_decay ({self.lp_fast_decay})")
        if not 0.0 <= self.min_weight < 1.0:
            raise ConfigError(f"mixture.min_weight must be in [0, 1), got {self.min_weight!r}")
        if self.update_every < 1:
            raise ConfigError(f"mixture.update_every must be >= 1, got {self.update_every!r}")
        if self.warmup_steps < 0:
            raise ConfigError(f"mixture.warmup_steps must be >= 0, got {self.warmup_steps!r}")
        if self.seed < 0:
            raise ConfigError(f"mixture.seed must be >= 0, got {self.seed!r}")
        for key in ("weights", "reference", "start_weights"):
            for name, value in getattr(self, key).items():
                if not math.isfinite(value) or (key != "reference" and value < 0):
                    kind = "a finite number" if key == "reference" else "finite and >= 0"
                    raise ConfigError(f"mixture.{key}.{name} must be {kind}, got {value!r}")
        uses = {
            "weights": "fixed" in (self.strategy, self.prior),
            "reference": self.strategy == "excess_loss",
            "start_weights": self.strategy == "curriculum",
        }
        for key, used in uses.items():
            if getattr(self, key) and not used:
                raise ConfigError(f"mixture.{key} is given but strategy {self.strategy!r} (prior {self.prior!r}) does not use it")
