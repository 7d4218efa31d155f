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
