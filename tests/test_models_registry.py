"""Registry-wide property tests: every preset x fusion (large presets at reduced depth)."""

from __future__ import annotations

import copy
import functools

import torch
from conftest import random_batch, small_config

from jarvl.blocks.layers import tanh_gates
from jarvl.models import JARVLModel, load_model, save_model


@functools.cache
def _built(preset: str, fusion: str) -> JARVLModel:
    torch.manual_seed(0)
    return JARVLModel(small_config(preset, fusion))


def _model(preset: str, fusion: str, gate: float | None = None) -> JARVLModel:
    """A fresh copy of the (cached) model; ``gate`` sets every tanh gate's parameter."""
    model = copy.deepcopy(_built(preset, fusion)).eval()
    if gate is not None:
        with torch.no_grad():
            for g in tanh_gates(model).values():
                g.gate.fill_(gate)
    return model


def test_forward_backward_finite(preset_fusion):
    model = _model(*preset_fusion).train()
    images, ids, mask, targets = random_batch(model.cfg)
    out = model(images, ids, mask, targets)
    assert out.logits.shape == (2, targets.shape[1], model.cfg.text.vocab_size)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert out.fusion.tokens.shape[0] == 2 and out.fusion.tokens.shape[:2] == out.fusion.mask.shape


def test_padding_never_changes_output(preset_fusion):
    # A nonzero gate so the image path is live; padding content and amount must not matter.
    model = _model(*preset_fusion, gate=0.5)
    images, ids, mask, targets = random_batch(model.cfg)
    with torch.no_grad():
        ref = model(images, ids, mask, targets).logits
        junk = ids.masked_fill(~mask, 7)  # other ids in padded positions
        more = torch.cat([junk, torch.full((2, 3), 9)], dim=1)  # and extra padding
        more_mask = torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], dim=1)
        assert torch.allclose(model(images, junk, mask, targets).logits, ref, atol=1e-5)
        assert torch.allclose(model(images, more, more_mask, targets).logits, ref, atol=1e-5)


def test_gated_paths_are_identity_at_init(preset_fusion):
    torch.manual_seed(0)
    model = JARVLModel(small_config(*preset_fusion, **{"fusion.gate_init": "0.0"})).eval()
    gates = model.fusion.gate_values()
    if not gates:
        return  # concat, perceiver and co-tokenization have no gated paths
    assert all(float(v) == 0.0 for v in gates.values())
    images, ids, mask, targets = random_batch(model.cfg)
    with torch.no_grad():
        a = model(images, ids, mask, targets).logits
        b = model(torch.randn_like(images), ids, mask, targets).logits
    # With tanh(0) gates the image pathway contributes nothing: another image, same output.
    assert torch.allclose(a, b, atol=1e-6)


def test_decoder_is_causal(preset_fusion):
    model = _model(*preset_fusion)
    images, ids, mask, targets = random_batch(model.cfg, target_len=6)
    with torch.no_grad():
        a = model(images, ids, mask, targets).logits
        changed = targets.clone()
        changed[:, 3] = (changed[:, 3] + 1) % model.cfg.text.vocab_size
        b = model(images, ids, mask, changed).logits
    # Decoder input is [BOS, y1..]: changing y_4 (index 3) may change logits at 4 and later only.
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-5)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_generate_with_cache_equals_without(preset_fusion):
    model = _model(*preset_fusion)
    images, ids, mask, _ = random_batch(model.cfg)
    for beams in (1, 3):
        cached = model.generate(images, ids, mask, num_beams=beams, max_new_tokens=6)
        plain = model.generate(images, ids, mask, num_beams=beams, max_new_tokens=6, use_cache=False)
        assert torch.equal(cached, plain)
        assert cached.shape[0] == 2 and cached.shape[1] <= 6


def test_save_and_load_give_identical_outputs(preset_fusion, tmp_path):
    model = _model(*preset_fusion)
    images, ids, mask, targets = random_batch(model.cfg)
    save_model(model, tmp_path)
    loaded = load_model(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(model(images, ids, mask, targets).logits, loaded(images, ids, mask, targets).logits)
