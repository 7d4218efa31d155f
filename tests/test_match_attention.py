"""The fused match-score attention equals the explicit ops it replaces, values and gradients."""

from __future__ import annotations

import torch

from jarvl.blocks.layers import Attention, _logits
from jarvl.blocks.match_attention import match_attention


def explicit(q, k, v, mask):
    scores = _logits(q, k, mask, False)
    best = scores.amax(dim=-1)
    return scores.softmax(dim=-1) @ v, best, torch.logsumexp(scores - best.unsqueeze(-1), dim=-1)


def test_match_attention_matches_the_explicit_ops_and_their_gradients():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 4, generator=g, dtype=torch.float64, requires_grad=True) for n in (5, 6, 6))
    mask = torch.rand(2, 6, generator=g) > 0.3
    mask[:, 0] = True
    mask = mask[:, None, None, :]
    weights = [
        torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64),
        *(torch.randn(2, 3, 5, generator=g, dtype=torch.float64) for _ in range(2)),
    ]
    for fn_mask in (mask, None):
        ours, theirs = match_attention(q, k, v, fn_mask), explicit(q, k, v, fn_mask)
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b)
        for used in ((0,), (0, 1), (0, 2), (0, 1, 2)):  # some read-outs unused: their gradient is None
            grads = [
                torch.autograd.grad(sum((out[i] * weights[i]).sum() for i in used), (q, k, v))
                for out in (match_attention(q, k, v, fn_mask), explicit(q, k, v, fn_mask))
            ]
            for a, b in zip(*grads):
                torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(lambda *t: match_attention(*t, mask), (q, k, v))


def test_with_match_scores_is_the_same_with_and_without_the_diagnostic_path():
    torch.manual_seed(0)
    attn = Attention(16, 4)
    x, ctx = torch.randn(2, 3, 16), torch.randn(2, 7, 16)
    key_mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    fast = attn.with_match_scores(x, ctx, key_mask=key_mask, count=True)
    slow = attn.with_match_scores(x, ctx, key_mask=key_mask, count=True, return_attn=True)
    torch.testing.assert_close(fast[0], slow[0])
    torch.testing.assert_close(fast[2], slow[2])
    assert fast[1] is None and slow[1].shape == (2, 3, 7)


def test_match_attention_under_bf16_autocast_keeps_dtypes_and_values():
    # As on a GPU (the trainer's bf16 autocast): projections give bf16 q, k, v; a read-out that
    # was cast to float32 sends a float32 gradient back. Values and gradients stay near float64's.
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 3, n, 8, generator=g, dtype=torch.float64) for n in (5, 7, 7))
    mask = torch.ones(2, 1, 1, 7, dtype=torch.bool)
    mask[1, ..., 5:] = False
    d_out, d_best, d_lse = torch.randn(2, 3, 5, 8, generator=g), torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    ref = [t.detach().requires_grad_() for t in (q, k, v)]
    outs = explicit(*ref, mask)
    torch.autograd.backward(outs, [d.double() for d in (d_out, d_best, d_lse)])
    for dtype in (torch.bfloat16, torch.float32):
        ins = [t.detach().to(dtype).requires_grad_() for t in (q, k, v)]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, best, lse = match_attention(*ins, mask)
        assert out.dtype == torch.bfloat16 and best.dtype == lse.dtype == torch.float32
        torch.autograd.backward([out, best, lse], [d_out.to(out.dtype), d_best, d_lse])
        for ours, theirs in zip((out, best, lse), outs):
            torch.testing.assert_close(ours.double(), theirs, atol=0.05, rtol=0.05)
        for t, r in zip(ins, ref):
            assert t.grad.dtype == dtype
            assert (t.grad.double() - r.grad).norm() < 0.05 * r.grad.norm()
