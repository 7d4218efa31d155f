"""Resample a variable number of tokens into N: latent queries (PAPER.md Eq. 2) or TokenLearner."""

from __future__ import annotations

import torch
from torch import nn

from jarvl.blocks.layers import MLP, Attention


class LatentResampler(nn.Module):
    """Eq. 2: f_N = W2 Phi(X_N, X). Learned queries X_N (N x D, DETR-style) attend to the tokens.

    Phi is pre-LN multi-head attention plus an MLP [choice]. float[B, S, D] -> float[B, N, D].
    """

    def __init__(self, dim: int, heads: int, num_tokens: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        # Unit-scale queries (Flamingo's Perceiver resampler, DETR's embeddings): with std 0.02 the
        # residual z = q + attn(...) forgot which query it came from and all N latents collapsed
        # to one vector (measured: std across tokens 1% of their norm on the tiny model).
        self.queries = nn.Parameter(torch.randn(1, num_tokens, dim))
        self.norm_q = nn.LayerNorm(dim)
        self.norm_x = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio)
        self.proj = nn.Linear(dim, dim)  # W2

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, *, return_attn: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x float[B, S, D], mask bool[B, S] -> (float[B, N, D], attention float[B, N, S] or None)."""
        q = self.queries.expand(x.shape[0], -1, -1)
        z, attn = self.attn(self.norm_q(q), self.norm_x(x), key_mask=mask, return_attn=return_attn)
        z = q + z
        z = z + self.mlp(self.norm_mlp(z))
        return self.proj(z), attn


class SpatialResampler(nn.Module):
    """TokenLearner (Ryoo et al. 2021): LN -> MLP -> softmax over positions -> N weighted sums.

    float[B, S, D] -> float[B, N, D]. With ``condition`` float[B, D] the weights also depend on
    it (co-tokenization conditions on the current fused tokens).
    """

    def __init__(self, dim: int, num_tokens: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or dim
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, num_tokens)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        condition: torch.Tensor | None = None,
        return_attn: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x float[B, S, D], mask bool[B, S] -> (float[B, N, D], weights float[B, N, S] or None)."""
        h = self.norm(x)
        if condition is not None:
            h = h + condition[:, None, :]
        logits = self.fc2(torch.nn.functional.gelu(self.fc1(h))).transpose(1, 2)  # (B, N, S)
        if mask is not None:
            logits = logits.masked_fill(~mask[:, None, :], float("-inf"))
        weights = logits.softmax(dim=-1)
        tokens = self.proj(weights @ x)  # (B, N, D)
        return tokens, (weights.detach() if return_attn else None)


def build_resampler(kind: str, dim: int, heads: int, num_tokens: int, mlp_ratio: float) -> nn.Module:
    """``latent`` (Eq. 2) or ``spatial`` (TokenLearner) resampler of ``num_tokens`` tokens."""
    if kind == "latent":
        return LatentResampler(dim, heads, num_tokens, mlp_ratio)
    if kind == "spatial":
        return SpatialResampler(dim, num_tokens)
    raise ValueError(f"unknown fusion.resampling '{kind}' (latent | spatial)")
