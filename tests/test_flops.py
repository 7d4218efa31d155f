"""FLOP counting: attention must be counted (torch's CPU counter misses it) and match a hand count."""

from __future__ import annotations

import torch

from jarvl.blocks.layers import TransformerLayer
from jarvl.profiling import attention_flops, count_flops
from jarvl.profiling.flops import flop_counter


def hand_count_layer(b: int, t: int, d: int, heads: int, mlp_ratio: float) -> int:
    """Forward FLOPs (2 x MACs) of one pre-LN transformer layer on float[b, t, d], by hand."""
    hidden = int(d * mlp_ratio)
    linears = 2 * b * t * (d * d + d * 2 * d + d * d)  # q, kv, out projections
    mlp = 2 * b * t * (d * hidden + hidden * d)
    attention = 2 * 2 * b * t * t * d  # QK^T and AV over all heads
    return linears + mlp + attention


def test_attention_op_alone_is_counted():
    q, k, v = torch.randn(2, 4, 10, 16), torch.randn(2, 4, 30, 16), torch.randn(2, 4, 30, 16)
    counter = flop_counter()
    with counter:
        torch.nn.functional.scaled_dot_product_attention(q, k, v)
    assert counter.get_total_flops() == attention_flops(2, 4, 10, 30, 16) > 0


def test_one_attention_block_matches_hand_count_within_2_percent():
    b, t, d, heads = 2, 128, 64, 4
    layer = TransformerLayer(d, heads, mlp_ratio=4.0)
    x = torch.randn(b, t, d)
    counter = flop_counter()
    with counter:
        layer(x)
    expected = hand_count_layer(b, t, d, heads, 4.0)
    counted = counter.get_total_flops()
    assert abs(counted - expected) / expected < 0.02, (counted, expected)
    # Without our formula the attention term would be missing: make sure it is a real share.
    assert 2 * 2 * b * t * t * d / expected > 0.15


def test_backward_attention_is_counted():
    q = torch.randn(1, 2, 8, 16, requires_grad=True)
    k, v = torch.randn(1, 2, 8, 16), torch.randn(1, 2, 8, 16)
    counter = flop_counter()
    with counter:
        torch.nn.functional.scaled_dot_product_attention(q, k, v).sum().backward()
    # forward 2 matmuls + backward 4 matmuls (dQ, dK, dV, dP), each 2*q*k*d per head
    assert counter.get_total_flops() >= 3 * attention_flops(1, 2, 8, 8, 16)


def test_count_flops_splits_by_part():
    from conftest import random_batch

    from jarvl.models import build_model

    model = build_model("tiny", "jar")
    images, ids, mask, targets = random_batch(model.cfg)
    flops = count_flops(model, lambda: model(images, ids, mask, targets))
    parts = flops["image"] + flops["text"] + flops["fusion"] + flops["decoder"]
    assert all(flops[p] > 0 for p in ("image", "text", "fusion", "decoder"))
    assert abs(parts - flops["total"]) / flops["total"] < 0.01
