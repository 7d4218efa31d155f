"""Learning progress: an EXP3-style bandit over datasets rewarded by the recent change of their loss.

After online data mixing (ODM, Albalak et al. 2023, "Efficient Online Data Mixing For Language
Model Pre-Training"), which runs EXP3 (Auer et al. 2002) over domains with a smoothed
importance-weighted reward, but with a learning-progress reward in place of ODM's raw loss, as in
absolute-learning-progress curricula (Portelas et al. 2019, ALP-GMM; Kanitscheider et al. 2021).
This is our choice; the paper's adaptive sampling method is unknown (docs/sampling.md).
"""

from __future__ import annotations

import numpy as np

from .base import AdaptiveStrategy, blend_with_prior, ema
from .registry import register_strategy

_EPS = 1e-8


@register_strategy("learning_progress")
class LearningProgress(AdaptiveStrategy):
    """p ∝ prior * exp(lp_eta * R), R the smoothed importance-weighted progress of each dataset.

    When dataset i is drawn with probability p_i and its batch has loss l:
        fast_i <- EMA(l, lp_fast_decay), slow_i <- EMA(l, lp_slow_decay)
        g_i = |slow_i - fast_i| / |slow_i|   (``decrease``: max(0, slow_i - fast_i) / |slow_i|)
        r_i = g_i / max_j g_j                 (in [0, 1]; relative, so loss scales do not matter)
        R_j <- d * R_j + (1 - d) * r_hat_j,  r_hat_i = r_i / p_i, r_hat_j = 0 for j != i   (EXP3)
    with d = lp_reward_decay. Datasets never drawn keep their prior weight.
    """

    _arrays = ("count", "fast", "slow", "progress", "reward")

    def _absorb(self, index: int, loss: float, prob: float) -> None:
        cfg = self.config
        first = self.count[index] == 0
        self.fast[index] = ema(self.fast[index], loss, cfg.lp_fast_decay, first)
        self.slow[index] = ema(self.slow[index], loss, cfg.lp_slow_decay, first)
        self.count[index] += 1
        gap = self.slow[index] - self.fast[index]
        gap = abs(gap) if cfg.lp_progress == "absolute" else max(0.0, gap)
        self.progress[index] = gap / (abs(self.slow[index]) + _EPS)
        top = self.progress.max()
        reward = self.progress[index] / top if top > 0 else 0.0
        # EXP3's estimator r/p for the drawn arm and 0 for the others is unbiased for every arm;
        # ODM smooths it with an EMA instead of summing, so old progress fades.
        estimate = np.zeros_like(self.reward)
        estimate[index] = reward / max(prob, _EPS)
        self.reward = cfg.lp_reward_decay * self.reward + (1.0 - cfg.lp_reward_decay) * estimate

    def _compute(self) -> np.ndarray:
        return blend_with_prior(self.prior, self.config.lp_eta * self.reward, self.count > 0)
