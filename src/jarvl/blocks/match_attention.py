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

Under autocast (bf16 on a GPU, or on a CPU that has it) the two matmuls of each pass run in the
autocast dtype and everything between them (logits, softmax, max, normaliser and their gradients)
in float32, as autocast runs softmax; without autocast every tensor keeps the inputs' dtype.
"""

from __future__ import annotations

import torch


def _matmul_dtype(t: torch.Tensor) -> torch.dtype:
    """The dtype autocast gives a matmul on ``t``'s device, or ``t``'s own without autocast."""
    kind = t.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else t.dtype


class _MatchAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mask):
        scale = q.shape[-1] ** -0.5
        low, wide = _matmul_dtype(q), torch.promote_types(q.dtype, torch.float32)
        ctx.dtypes = (q.dtype, k.dtype, v.dtype)
        # Heads split from a projection are strided views; batched matmuls copy such operands on
        # every call, so copy once here (in the matmul dtype) and keep the dense ones for backward.
        q, k, v = (t.to(low).contiguous() for t in (q, k, v))
        s = torch.matmul(q, k.transpose(-2, -1)).to(wide).mul_(scale)  # (B, h, T, S)
        if mask is not None:
            s.masked_fill_(~mask, float("-inf"))
        best, where = s.max(dim=-1)  # (B, h, T)
        w = s.sub_(best.unsqueeze(-1)).exp_()  # in place: s is not needed again
        norm = w.sum(dim=-1)
        w.div_(norm.unsqueeze(-1))
        out = torch.matmul(w.to(low), v)  # (B, h, T, hs)
        ctx.save_for_backward(q, k, v, w, where)
        ctx.scale = scale
        return out, best, norm.log_()

    @staticmethod
    def backward(ctx, d_out, d_best, d_lse):
        q, k, v, w, where = ctx.saved_tensors
        low, wide = q.dtype, w.dtype
        d_out = d_out.to(low)
        dw = torch.matmul(d_out, v.transpose(-2, -1)).to(wide)  # (B, h, T, S)
        dv = torch.matmul(w.to(low).transpose(-2, -1), d_out)
        shift = (dw * w).sum(dim=-1, keepdim=True)
        if d_lse is not None:
            shift = shift - d_lse.to(wide).unsqueeze(-1)
        ds = dw.sub_(shift).mul_(w)
        point = d_best if d_lse is None else (d_lse.neg() if d_best is None else d_best - d_lse)
        if point is not None:
            ds.scatter_add_(-1, where.unsqueeze(-1), point.to(wide).unsqueeze(-1))
        ds = ds.mul_(ctx.scale).to(low)
        dq = torch.matmul(ds, k)
        dk = torch.matmul(ds.transpose(-2, -1), q)
        return (*(g.to(d) for g, d in zip((dq, dk, dv), ctx.dtypes)), None)


def match_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q float[B, h, T, hs], k, v float[B, h, S, hs], mask bool broadcastable to [B, h, T, S] (True =
    attend) -> (softmax(q k^T / sqrt(hs)) v float[B, h, T, hs], best logit float[B, h, T],
    log sum_j exp(s_j - best) float[B, h, T])."""
    return _MatchAttention.apply(q, k, v, mask)
