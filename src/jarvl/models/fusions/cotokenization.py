"""Co-tokenization fusion (Piergiovanni et al. 2022, arXiv 2208.00934).

In every iteration TokenLearner tokens are re-computed from the *full* [image; text] features,
conditioned on the current fused tokens, then refined by transformer layers.
"""

from __future__ import annotations

import torch
from torch import nn

from jarvl.blocks.config import FusionConfig
from jarvl.models.fusions.base import (
    Fusion,
    FusionOutput,
    distinct_iterations,
    joint_sequence,
    layer_stacks,
    register_fusion,
    rows_for_texts,
)
from jarvl.models.fusions.resamplers import SpatialResampler


@register_fusion("cotokenization")
class CoTokenizationFusion(Fusion):
    """float[B, M, D], float[B, L, D], bool[B, L] -> N tokens float[B, N, D] (mask all True).

    Iteration i: X_i = TokenLearner_i([image; text] | mean(F_{i-1})); F_i = T_i(F_{i-1} + X_i), F_0 = 0.
    """

    def __init__(self, cfg: FusionConfig, *, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__(cfg, width=width, heads=heads, mlp_ratio=mlp_ratio)
        self.modality = nn.Parameter(torch.zeros(2, width))
        self.learners = nn.ModuleList(SpatialResampler(width, cfg.num_tokens) for _ in range(distinct_iterations(cfg)))
        self.condition = nn.ModuleList(nn.Linear(width, width) for _ in range(distinct_iterations(cfg)))
        self.layers = layer_stacks(cfg, width, self.heads, mlp_ratio)
        self.norm = nn.LayerNorm(width)

    def forward(self, image, text, text_mask, image_index=None) -> FusionOutput:
        """See the class docstring for shapes (``image_index``: see ``fusions.base``)."""
        image = rows_for_texts(image, image_index)
        x, mask = joint_sequence(image, text, text_mask, self.modality)  # (B, M + L, D), (B, M + L)
        fused = x.new_zeros(x.shape[0], self.cfg.num_tokens, x.shape[-1])
        diag = {}
        for i in range(self.cfg.iterations):
            k = i % len(self.layers)  # one set of weights for all iterations with cfg.share_iterations
            learner, cond, layers = self.learners[k], self.condition[k], self.layers[k]
            tokens, attn = learner(x, mask, condition=cond(fused.mean(dim=1)), return_attn=self.return_attn)
            fused = fused + tokens
            for layer in layers:
                fused = layer(fused)
            if attn is not None:
                diag[f"attn/tokenlearner{i}"] = attn
        out_mask = torch.ones(fused.shape[:2], dtype=torch.bool, device=fused.device)
        return FusionOutput(self.norm(fused), out_mask, diag)
