"""Perceiver fusion (Jaegle et al. 2021): latents cross-attend to the full [image; text] sequence."""

from __future__ import annotations

import torch
from torch import nn

from jarvl.blocks.config import FusionConfig
from jarvl.blocks.layers import MLP, Attention
from jarvl.models.fusions.base import (
    Fusion,
    FusionOutput,
    distinct_iterations,
    joint_sequence,
    layer_stacks,
    register_fusion,
    rows_for_texts,
)


class _CrossBlock(nn.Module):
    """latents float[B, N, D] attend to x float[B, S, D]: z + CA(LN(z), LN(x)), then + MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm_q, self.norm_x, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.mlp = MLP(dim, mlp_ratio)

    def forward(self, z, x, mask, return_attn=False):
        out, attn = self.attn(self.norm_q(z), self.norm_x(x), key_mask=mask, return_attn=return_attn)
        z = z + out
        return z + self.mlp(self.norm_mlp(z)), attn


@register_fusion("perceiver")
class PerceiverFusion(Fusion):
    """float[B, M, D], float[B, L, D], bool[B, L] -> N latents float[B, N, D] (mask all True).

    Unlike JAR, every one of the ``cfg.iterations`` blocks re-reads the *full* M + L tokens
    (PAPER.md), followed by ``cfg.layers_per_iteration`` self-attention layers over the latents
    (one block and one stack for all iterations with ``cfg.share_iterations``).
    """

    def __init__(self, cfg: FusionConfig, *, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__(cfg, width=width, heads=heads, mlp_ratio=mlp_ratio)
        self.latents = nn.Parameter(torch.randn(1, cfg.num_tokens, width))  # unit scale, as the resampler's queries
        self.modality = nn.Parameter(torch.zeros(2, width))
        self.cross = nn.ModuleList(_CrossBlock(width, self.heads, mlp_ratio) for _ in range(distinct_iterations(cfg)))
        self.layers = layer_stacks(cfg, width, self.heads, mlp_ratio)
        self.norm = nn.LayerNorm(width)

    def forward(self, image, text, text_mask, image_index=None) -> FusionOutput:
        """See the class docstring for shapes (``image_index``: see ``fusions.base``)."""
        image = rows_for_texts(image, image_index)
        x, mask = joint_sequence(image, text, text_mask, self.modality)  # (B, M + L, D), (B, M + L)
        z, diag = self.latents.expand(image.shape[0], -1, -1), {}
        for i in range(self.cfg.iterations):
            cross, layers = self.cross[i % len(self.cross)], self.layers[i % len(self.layers)]
            z, attn = cross(z, x, mask, self.return_attn)
            for layer in layers:
                z = layer(z)
            if attn is not None:
                diag[f"attn/cross{i}"] = attn.detach()
        out_mask = torch.ones(z.shape[:2], dtype=torch.bool, device=z.device)
        return FusionOutput(self.norm(z), out_mask, diag)
