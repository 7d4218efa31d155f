"""Excess loss: up-weight the datasets whose loss is furthest above a reference loss.

After DoReMi (Xie et al. 2023, "DoReMi: Optimizing Data Mixtures Speeds Up Language Model
Pretraining"), whose online step is alpha <- alpha * exp(eta * max(0, loss - reference_loss)).
Ours uses the current smoothed excess instead of DoReMi's running sum of per-step excesses, so the
weights follow the present excess rather than its history. This is our choice; the paper's
adaptive sampling method is unknown (docs/sampling.md).
"""

from __future__ import annotations

import numpy as np

from .base import AdaptiveStrategy, blend_with_prior, ema
from .registry import register_strategy


@register_strategy("excess_loss")
class ExcessLoss(AdaptiveStrategy):
    """p ∝ prior * exp(excess_eta * max(0, L_i - ref_i)), L_i the EMA (``excess_decay``) of i's loss.

    ref_i is, in order of preference: the EMA of the reference model's losses fed with
    ``update_reference``; the config's ``reference[i]``; the lowest L_i seen so far (then the
    excess measures how far a dataset has slid back from its best, i.e. forgetting).
    Datasets never drawn keep their prior weight.
    """

    _arrays = ("count", "loss", "best", "ref_count", "ref_loss")

    def __init__(self, names, sizes, config, prior) -> None:  # noqa: ANN001 (as Strategy)
        super().__init__(names, sizes, config, prior)
        self.given = np.array([config.reference.get(n, np.nan) for n in names], dtype=np.float64)

    def _absorb(self, index: int, loss: float, prob: float) -> None:
        first = self.count[index] == 0
        self.loss[index] = ema(self.loss[index], loss, self.config.excess_decay, first)
        self.best[index] = self.loss[index] if first else min(self.best[index], self.loss[index])
        self.count[index] += 1

    def observe_reference(self, index: int, loss: float) -> None:
        first = self.ref_count[index] == 0
        self.ref_loss[index] = ema(self.ref_loss[index], loss, self.config.excess_decay, first)
        self.ref_count[index] += 1

    def references(self) -> np.ndarray:
        """float64[K]: the reference loss of each dataset now (see the class docstring)."""
        ref = np.where(np.isnan(self.given), self.best, self.given)
        return np.where(self.ref_count > 0, self.ref_loss, ref)

    def _compute(self) -> np.ndarray:
        excess = np.maximum(0.0, self.loss - self.references())
        return blend_with_prior(self.prior, self.config.excess_eta * excess, self.count > 0)
