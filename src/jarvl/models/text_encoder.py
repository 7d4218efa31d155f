"""Pre-LN transformer text encoder with padding masks."""

from __future__ import annotations

import torch
from torch import nn

from jarvl.blocks.config import TextConfig
from jarvl.blocks.layers import Encoder


class TextEncoder(nn.Module):
    """ids long[B, L] + mask bool[B, L] (True = real token) -> text tokens float[B, L, Dt].

    Padded positions are never attended to, so padding never changes the real tokens' outputs.
    """

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.width)
        self.pos = nn.Parameter(torch.zeros(1, cfg.max_len, cfg.width))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.encoder = Encoder(cfg.width, cfg.depth, cfg.heads, cfg.mlp_ratio)

    def freeze_parts(self) -> tuple[list[nn.Module], list[nn.Module]]:
        """(the transformer blocks in order, the modules after them), for ``jarvl.models.freeze``."""
        return list(self.encoder.layers), [self.encoder.norm]

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """long[B, L], bool[B, L] -> float[B, L, Dt]."""
        length = ids.shape[1]
        if length > self.cfg.max_len:
            raise ValueError(f"text of {length} tokens exceeds text.max_len={self.cfg.max_len}")
        x = self.embed(ids) + self.pos[:, :length]
        return self.encoder(x, key_mask=mask)
