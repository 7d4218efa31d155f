"""Per-module tests of the fusions: the contract, JAR's equations and knobs, resamplers."""

from __future__ import annotations

import pytest
import torch

from jarvl.models import FusionConfig, build_fusion, list_fusions
from jarvl.models.fusions.gated import GatedCrossAttention
from jarvl.models.fusions.resamplers import LatentResampler, SpatialResampler

D, H = 32, 4


def _inputs(b=2, m=20, length=9):
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(b, length, dtype=torch.bool)
    mask[0, 6:] = False
    return torch.randn(b, m, D, generator=g), torch.randn(b, length, D, generator=g), mask


@pytest.mark.parametrize("name", list_fusions())
def test_contract_shapes(name):
    fusion = build_fusion(FusionConfig(name=name, num_tokens=5, iterations=2, layers=2, gate_init=0.3), width=D, heads=H)
    image, text, mask = _inputs()
    out = fusion(image, text, mask)
    expected_k = {"concat": 29, "cross_attention": 9}.get(name, 5)
    assert out.tokens.shape == (2, expected_k, D) and out.mask.shape == (2, expected_k)
    assert out.mask.dtype == torch.bool


def test_jar_tokens_do_not_depend_on_text_length():
    fusion = build_fusion(FusionConfig(num_tokens=6, iterations=3, layers=3), width=D, heads=H)
    for length in (3, 11, 30):
        image, text, mask = _inputs(length=length)
        assert fusion(image, text, mask).tokens.shape == (2, 6, D)


def test_jar_layers_split_over_iterations():
    fusion = build_fusion(FusionConfig(num_tokens=4, iterations=4, layers=8), width=D, heads=H)
    assert len(fusion.fuse) == 4 and all(len(r) == 2 for r in fusion.refine)
    assert fusion.combine_weights.shape == (3,)


def test_jar_combination_modes_differ():
    image, text, mask = _inputs()
    outs = {}
    for combine in ("weighted", "residual", "none"):
        torch.manual_seed(0)
        fusion = build_fusion(FusionConfig(num_tokens=4, iterations=3, layers=3, combine=combine, gate_init=0.5), width=D, heads=H)
        with torch.no_grad():
            fusion.combine_weights.fill_(0.5)
        outs[combine] = fusion(image, text, mask).tokens
    assert not torch.allclose(outs["weighted"], outs["residual"])
    assert not torch.allclose(outs["residual"], outs["none"])


def test_jar_diagnostics_gates_and_attention_maps():
    fusion = build_fusion(FusionConfig(num_tokens=4, iterations=2, layers=2, gate_init=0.1), width=D, heads=H)
    fusion.return_attn = True
    image, text, mask = _inputs()
    diag = fusion(image, text, mask).diagnostics
    assert diag["attn/image_resampler"].shape == (2, 4, 20)
    assert torch.allclose(diag["attn/image_resampler"].sum(-1), torch.ones(2, 4), atol=1e-5)
    # the text resampler never attends to padding
    assert float(diag["attn/text_resampler"][0, :, 6:].abs().max()) == 0.0
    gates = [k for k in diag if k.startswith("gate/")]
    assert len(gates) == 4 and all(abs(float(diag[k]) - torch.tanh(torch.tensor(0.1))) < 1e-6 for k in gates)


def test_gated_cross_attention_is_eq3():
    block = GatedCrossAttention(D, H, gate_init=0.0)
    t, f = torch.randn(2, 4, D), torch.randn(2, 7, D)
    assert torch.allclose(block(t, f)[0], block.norm_t(t))  # alpha = beta = 0: LN(t)
    with torch.no_grad():
        block.alpha.gate.fill_(1.0)
        block.beta.gate.fill_(1.0)
    p = block.norm_t(t) + torch.tanh(torch.tensor(1.0)) * block.attn(block.norm_t(t), block.norm_f(f))[0]
    expected = p + torch.tanh(torch.tensor(1.0)) * block.mlp(p)
    assert torch.allclose(block(t, f)[0], expected, atol=1e-6)


def test_match_scores_read_out_the_best_logit():
    torch.manual_seed(0)
    block = GatedCrossAttention(D, H, gate_init=1.0, match_scores=True)
    t, f = torch.randn(2, 4, D), torch.randn(2, 7, D)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 5:] = False
    a = block.attn
    tn, fn = block.norm_t(t), block.norm_f(f)
    q = a._split(a.q(tn))
    k = a._split(a.kv(fn).chunk(2, dim=-1)[0])
    logits = (q @ k.transpose(-2, -1)) / (D // H) ** 0.5
    logits = logits.masked_fill(~mask[:, None, None, :], float("-inf"))
    best = logits.amax(-1).transpose(1, 2)  # (B, N, heads)
    cross = a(tn, fn, key_mask=mask)[0] + block.score(best)
    p = tn + torch.tanh(torch.tensor(1.0)) * cross
    expected = p + torch.tanh(torch.tensor(1.0)) * block.mlp(p)
    assert torch.allclose(block(t, f, mask)[0], expected, atol=1e-5)
    # padded keys are never the best match: changing them changes nothing
    f2 = f.clone()
    f2[1, 5:] = 50.0
    assert torch.allclose(block(t, f, mask)[0], block(t, f2, mask)[0], atol=1e-5)


def test_jar_on_image_tokens_has_no_image_resampler():
    fusion = build_fusion(FusionConfig(num_tokens=4, iterations=2, layers=2, image_context="tokens", match_scores=True), width=D, heads=H)
    assert fusion.image_resampler is None
    fusion.return_attn = True
    image, text, mask = _inputs()
    out = fusion(image, text, mask)
    assert out.tokens.shape == (2, 4, D)
    assert out.diagnostics["attn/fuse0"].shape == (2, 4, 20)  # the text latents read all M = 20 tokens


def test_match_count_reads_log_k_for_k_equal_matches():
    torch.manual_seed(0)
    block = GatedCrossAttention(D, H, gate_init=1.0, match_scores=True, match_count=True)
    assert block.score.in_features == 2 * H
    x = torch.randn(1, 2, D)
    for k in (1, 3):
        # k copies of one key that matches far better than the 6 - k others: the normaliser
        # relative to the best logit is log k (the copies) plus a vanishing rest.
        hit, miss = torch.randn(1, 1, D), torch.zeros(1, 1, D)
        ctx = torch.cat([hit.expand(1, k, D), miss.expand(1, 6 - k, D)], 1)
        a = block.attn
        q = a._split(a.q(x))
        keys = a._split(a.kv(ctx).chunk(2, dim=-1)[0])
        logits = (q @ keys.transpose(-2, -1)) / (D // H) ** 0.5
        _, _, scores = a.with_match_scores(x, ctx, count=True)
        assert scores.shape == (1, 2, 2 * H)
        assert torch.allclose(scores[..., :H], logits.amax(-1).transpose(1, 2), atol=1e-5)
        expected = torch.logsumexp(logits - logits.amax(-1, keepdim=True), -1).transpose(1, 2)
        assert torch.allclose(scores[..., H:], expected, atol=1e-5)
    with pytest.raises(ValueError, match="match_count needs match_scores"):
        GatedCrossAttention(D, H, match_count=True)


def test_match_count_without_match_scores_is_a_config_error():
    from jarvl.models.presets import get_preset

    cfg = get_preset("tiny", "jar")
    cfg.fusion.match_count = True
    with pytest.raises(ValueError, match="fusion.match_count needs fusion.match_scores"):
        cfg.validate()


def test_jar_on_text_tokens_keeps_the_text_positions_and_mask():
    cfg = FusionConfig(
        num_tokens=4,
        iterations=2,
        layers=2,
        text_context="tokens",
        image_context="tokens",
        match_scores=True,
        match_count=True,
        gate_init=0.5,
    )
    fusion = build_fusion(cfg, width=D, heads=H)
    assert fusion.text_resampler is None and fusion.image_resampler is None
    image, text, mask = _inputs()
    out = fusion(image, text, mask)
    assert out.tokens.shape == (2, 9, D) and torch.equal(out.mask, mask)
    # padded text positions are never attended to: changing them leaves the real positions alone
    text2 = text.clone()
    text2[0, 6:] = 100.0
    out2 = fusion(image, text2, mask)
    assert torch.allclose(out.tokens[0, :6], out2.tokens[0, :6], atol=1e-5)


@pytest.mark.parametrize("cls", [LatentResampler, SpatialResampler])
def test_resamplers_ignore_masked_tokens(cls):
    torch.manual_seed(0)
    r = cls(D, H, 5) if cls is LatentResampler else cls(D, 5)
    x = torch.randn(2, 10, D)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[:, 7:] = False
    a = r(x, mask)[0]
    x2 = x.clone()
    x2[:, 7:] = 100.0
    assert torch.allclose(a, r(x2, mask)[0], atol=1e-5)
    assert a.shape == (2, 5, D)


def test_unknown_fusion_suggests():
    with pytest.raises(ValueError, match="did you mean 'concat'"):
        build_fusion(FusionConfig(name="conact"), width=D, heads=H)


def test_auto_gate_init_opens_gates_from_scratch_and_not_beside_a_pretrained_tower():
    from jarvl.models.fusions.base import resolved_gate_init
    from jarvl.models.model import JARVLModel
    from jarvl.models.presets import get_preset

    assert FusionConfig().gate_init is None
    assert resolved_gate_init(FusionConfig()) == 1.0
    assert resolved_gate_init(FusionConfig(), pretrained=True) == 0.0
    assert resolved_gate_init(FusionConfig(gate_init=0.3), pretrained=True) == 0.3
    model = JARVLModel(get_preset("tiny", "jar"))
    gates = [float(m.gate.detach()) for m in model.modules() if type(m).__name__ == "TanhGate"]
    assert gates and all(g == 1.0 for g in gates)
    assert model.cfg.fusion.gate_init is None  # the saved config keeps "auto"; it resolves the same on load


def test_match_where_reads_the_attention_weighted_position_of_the_context():
    from jarvl.blocks.layers import grid_positions

    torch.manual_seed(0)
    pos = grid_positions(9)  # a 3 x 3 grid, row-major (x, y) in [-1, 1]
    assert pos[0].tolist() == [-1.0, -1.0] and pos[5].tolist() == [1.0, 0.0] and pos[8].tolist() == [1.0, 1.0]
    block = GatedCrossAttention(D, H, gate_init=1.0, match_scores=True, match_count=True, match_where=True)
    assert block.score.in_features == 4 * H
    a = block.attn
    x, ctx = torch.randn(2, 3, D), torch.randn(2, 9, D)
    q = a._split(a.q(x))
    keys = a._split(a.kv(ctx).chunk(2, dim=-1)[0])
    weights = ((q @ keys.transpose(-2, -1)) / (D // H) ** 0.5).softmax(-1)  # (B, h, T, S)
    expected = (weights @ pos).permute(0, 2, 1, 3)  # (B, T, h, 2)
    for diagnostic in (False, True):
        _, _, scores = a.with_match_scores(x, ctx, count=True, positions=pos, return_attn=diagnostic)
        assert scores.shape == (2, 3, 4 * H)
        torch.testing.assert_close(scores[..., 2 * H : 3 * H], expected[..., 0], atol=1e-5, rtol=1e-5)  # x per head
        torch.testing.assert_close(scores[..., 3 * H :], expected[..., 1], atol=1e-5, rtol=1e-5)  # y per head
    plain, _, _ = a.with_match_scores(x, ctx, count=True)
    where, _, _ = a.with_match_scores(x, ctx, count=True, positions=pos)
    torch.testing.assert_close(plain, where)  # the attention output itself is unchanged
    with pytest.raises(ValueError, match="match_where and position_queries need the context tokens' positions"):
        block(x, ctx)
    with pytest.raises(ValueError, match="square grid"):
        grid_positions(10)


def test_position_queries_add_a_query_dependent_position_bias_to_every_logit():
    from jarvl.blocks.layers import grid_positions, with_position_bias

    torch.manual_seed(0)
    pos = grid_positions(9)
    block = GatedCrossAttention(D, H, gate_init=1.0, match_scores=True, match_count=True, position_queries=True)
    assert block.where_q.shape == (2 * H, D) and not block.where_q.any()  # zero at init
    x, ctx = torch.randn(2, 3, D), torch.randn(2, 9, D)
    plain = GatedCrossAttention(D, H, gate_init=1.0, match_scores=True, match_count=True)
    plain.load_state_dict({k: v for k, v in block.state_dict().items() if k != "where_q"})
    torch.testing.assert_close(block(x, ctx, positions=pos)[0], plain(x, ctx)[0])  # zero bias: the plain block
    with torch.no_grad():
        block.where_q.normal_()
    a, t = block.attn, block.norm_t(x)
    q, keys = a._split(a.q(t)), a._split(a.kv(block.norm_f(ctx)).chunk(2, dim=-1)[0])
    query = (t @ block.where_q.T).view(2, 3, H, 2).transpose(1, 2)  # (B, h, T, 2)
    expected = (q @ keys.transpose(-2, -1)) / (D // H) ** 0.5 + query @ pos.T  # (B, h, T, S)
    q2, k2 = with_position_bias(q, keys, query, pos)
    torch.testing.assert_close((q2 @ k2.transpose(-2, -1)) / q2.shape[-1] ** 0.5, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(block.cell_logits(x, ctx, pos), expected.mean(1), atol=1e-5, rtol=1e-5)
    for diagnostic in (False, True):  # the fused kernel and the explicit ops agree, best logit included
        _, _, scores = a.with_match_scores(t, block.norm_f(ctx), count=True, position_bias=(query, pos), return_attn=diagnostic)
        torch.testing.assert_close(scores[..., :H], expected.amax(-1).transpose(1, 2), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="need the context tokens' positions"):
        block(x, ctx)
    with pytest.raises(ValueError, match="position_queries needs match_scores"):
        GatedCrossAttention(D, H, position_queries=True)


def test_position_queries_in_jar_train_and_need_image_tokens():
    from conftest import random_batch

    from jarvl.models.model import JARVLModel
    from jarvl.models.presets import get_preset

    cfg = get_preset("tiny", "jar")
    cfg.fusion.match_scores = cfg.fusion.position_queries = True
    with pytest.raises(ValueError, match="fusion.position_queries needs fusion.match_scores: true"):
        cfg.validate()
    cfg.fusion.image_context = "tokens"
    model = JARVLModel(cfg.validate())
    assert not model.fusion.fuse[0].where_q.any()  # the model's init keeps the zero start
    model(*random_batch(cfg)).loss.backward()
    assert model.fusion.fuse[0].where_q.grad.abs().sum() > 0  # the bias is on the answer's gradient path


def test_match_where_in_jar_trains_and_needs_image_tokens():
    from jarvl.models.model import JARVLModel
    from jarvl.models.presets import get_preset

    cfg = get_preset("tiny", "jar")
    cfg.fusion.match_scores = cfg.fusion.match_where = True
    with pytest.raises(
        ValueError, match="fusion.match_where needs fusion.match_scores: true and fusion.name=jar with image_context=tokens"
    ):
        cfg.validate()
    cfg.fusion.image_context = "tokens"
    model = JARVLModel(cfg.validate())
    from conftest import random_batch

    out = model(*random_batch(cfg))
    out.loss.backward()
    assert model.fusion.fuse[0].score.weight.grad[:, -2 * cfg.heads :].abs().sum() > 0  # the position read-out is used
