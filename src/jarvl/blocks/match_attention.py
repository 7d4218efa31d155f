"""Attention that also returns each query's best logit and log softmax normaliser, in one fused pass.

``Attention.with_match_scores`` needs, beside softmax(QK^T)V, what softmax normalises away: per
query and head the largest logit m = max_j s_j and log sum_j exp(s_j - m). No fused kernel returns
them, and written as separate autograd ops (softmax, amax, logsumexp, cat) the backward keeps
several [B, h, T, S] tensors and recomputes the exponentials: on CPU this was ~2x the time of SDPA.
Here the forward computes the logits once and keeps only the softmax weights (and the argmax);
the backward is the closed form:

    ds = w * (dW - sum_j dW_j w_j + d lse) + onehot(argmax) * (dm - d lse),   dW = dout V^T,

the softmax backward, plus the gradient of log sum exp (w) and of the max (one-hot at the argmax;
autograd's amax spreads a tie evenly instead, a difference only for exactly tied logits).
"""

from __future__ import annotations

import torch


class _MatchAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mask):
        scale = q.shape[-1] ** -0.5
        # Heads split from a projection are strided views; batched matmuls copy such operands on
        # every call, so copy once here and keep the dense ones for backward.
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        s = torch.matmul(q, k.transpose(-2, -1)).mul_(scale)  # (B, h, T, S)
        if mask is not None:
            s.masked_fill_(~mask, float("-inf"))
        best, where = s.max(dim=-1)  # (B, h, T)
        w = s.sub_(best.unsqueeze(-1)).exp_()  # in place: s is not needed again
        norm = w.sum(dim=-1)
        w.div_(norm.unsqueeze(-1))
        out = torch.matmul(w, v)  # (B, h, T, hs)
        ctx.save_for_backward(q, k, v, w, where)
        ctx.scale = scale
        return out, best, norm.log_()

    @staticmethod
    def backward(ctx, d_out, d_best, d_lse):
        q, k, v, w, where = ctx.saved_tensors
        dw = torch.matmul(d_out, v.transpose(-2, -1))  # (B, h, T, S)
        dv = torch.matmul(w.transpose(-2, -1), d_out)
        shift = (dw * w).sum(dim=-1, keepdim=True)
        if d_lse is not None:
            shift = shift - d_lse.unsqueeze(-1)
        ds = dw.sub_(shift).mul_(w)
        point = d_best if d_lse is None else (d_lse.neg() if d_best is None else d_best - d_lse)
        if point is not None:
            ds.scatter_add_(-1, where.unsqueeze(-1), point.unsqueeze(-1))
        ds.mul_(ctx.scale)
        dq = torch.matmul(ds, k)
        dk = torch.matmul(ds.transpose(-2, -1), q)
        return dq, dk, dv, None


def match_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q float[B, h, T, hs], k, v float[B, h, S, hs], mask bool broadcastable to [B, h, T, S] (True =
    attend) -> (softmax(q k^T / sqrt(hs)) v float[B, h, T, hs], best logit float[B, h, T],
    log sum_j exp(s_j - best) float[B, h, T])."""
    return _MatchAttention.apply(q, k, v, mask)
