"""Concatenation fusion (ViLT, SimVLM, PaLI): every image and text token through one transformer.

Attention costs O((M + L)^2) per layer: the cost JAR cuts.
"""

from __future__ import annotations

import torch
from torch import nn

from jarvl.blocks.config import FusionConfig
from jarvl.blocks.layers import TransformerLayer
from jarvl.models.fusions.base import Fusion, FusionOutput, joint_sequence, register_fusion, rows_for_texts


@register_fusion("concat")
class ConcatFusion(Fusion):
    """float[B, M, D], float[B, L, D], bool[B, L] -> float[B, M + L, D], mask [ones; text_mask]."""

    def __init__(self, cfg: FusionConfig, *, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__(cfg, width=width, heads=heads, mlp_ratio=mlp_ratio)
        # Modality embeddings tell the shared transformer which tokens are which.
        self.modality = nn.Parameter(torch.zeros(2, width))
        nn.init.trunc_normal_(self.modality, std=0.02)
        self.layers = nn.ModuleList(TransformerLayer(width, self.heads, mlp_ratio) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(width)

    def forward(self, image: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor, image_index=None) -> FusionOutput:
        """See the class docstring for shapes (``image_index``: see ``fusions.base``)."""
        image = rows_for_texts(image, image_index)
        x, mask = joint_sequence(image, text, text_mask, self.modality)  # (B, M + L, D), (B, M + L)
        for layer in self.layers:
            x = layer(x, mask)
        return FusionOutput(self.norm(x), mask, {})
