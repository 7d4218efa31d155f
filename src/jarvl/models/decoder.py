"""Autoregressive transformer decoder that cross-attends to the fused tokens, with a key/value cache."""

from __future__ import annotations

import torch
from torch import nn

from jarvl.blocks.config import DecoderConfig
from jarvl.blocks.layers import MLP, Attention


class DecoderLayer(nn.Module):
    """Pre-LN: causal self-attention, cross-attention to memory, MLP. float[B, T, D] -> float[B, T, D]."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = Attention(dim, heads)
        self.cross_attn = Attention(dim, heads)
        self.mlp = MLP(dim, mlp_ratio)

    def forward(self, x, memory, memory_mask, cache: dict | None = None) -> torch.Tensor:
        """x float[B, T, D]; memory float[B, K, D]; memory_mask bool[B, K]; ``cache`` for generation."""
        self_cache = None if cache is None else cache.setdefault("self", {})
        cross_cache = None if cache is None else cache.setdefault("cross", {})
        x = x + self.self_attn(self.norm1(x), causal=True, cache=self_cache)[0]
        x = x + self.cross_attn(self.norm2(x), memory, key_mask=memory_mask, static_cache=cross_cache)[0]
        return x + self.mlp(self.norm3(x))


class Decoder(nn.Module):
    """ids long[B, T] + fused memory float[B, K, D] -> logits float[B, T, V]; tied output embedding."""

    def __init__(self, cfg: DecoderConfig, *, width: int, vocab_size: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(vocab_size, width)
        self.pos = nn.Parameter(torch.zeros(1, cfg.max_len, width))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.layers = nn.ModuleList(DecoderLayer(width, cfg.heads, mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(width)

    def forward(
        self,
        ids: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor,
        caches: list[dict] | None = None,
        offset: int = 0,
    ) -> torch.Tensor:
        """long[B, T] (positions ``offset`` .. ``offset + T``) -> logits float[B, T, V]."""
        end = offset + ids.shape[1]
        if end > self.cfg.max_len:
            raise ValueError(f"decoder input of {end} tokens exceeds decoder.max_len={self.cfg.max_len}")
        x = self.embed(ids) + self.pos[:, offset:end]
        for i, layer in enumerate(self.layers):
            x = layer(x, memory, memory_mask, None if caches is None else caches[i])
        return self.norm(x) @ self.embed.weight.T  # (B, T, V)

    def new_caches(self) -> list[dict]:
        """One empty key/value cache per layer."""
        return [{} for _ in self.layers]


def reorder_caches(caches: list[dict], index: torch.Tensor) -> None:
    """Select batch rows ``index`` long[B'] of every cached key/value in place (beam search)."""
    for cache in caches:
        for part in cache.values():
            for key in ("k", "v"):
                if key in part:
                    part[key] = part[key].index_select(0, index)
