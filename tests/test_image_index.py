"""Several questions about one image: ``image_index`` encodes each image once, with the same result.

For every registered fusion (and JAR without its image resampler, and with TokenLearner), the
model called with each image once plus ``image_index`` equals the model called with the image
repeated per question: fused tokens, diagnostics (attention maps included), logits, loss,
gradients and generated answers.
"""

from __future__ import annotations

import pytest
import torch
from conftest import random_batch, small_config
from torch.testing import assert_close

from jarvl.models import build_model, list_fusions

VARIANTS = [(f, {}) for f in list_fusions()] + [
    ("jar", {"fusion.image_context": "tokens"}),
    ("jar", {"fusion.resampling": "spatial"}),
    ("jar", {"fusion.text_context": "tokens", "fusion.match_scores": "true", "fusion.match_count": "true"}),
]


def _model(fusion: str, overrides: dict):
    torch.manual_seed(0)
    return build_model(small_config("tiny", fusion, **overrides)).eval()


@pytest.mark.parametrize("fusion,overrides", VARIANTS, ids=[f + "".join(f"-{v}" for v in o.values()) for f, o in VARIANTS])
def test_image_index_equals_repeated_images(fusion, overrides):
    model = _model(fusion, overrides)
    images, ids, mask, targets = random_batch(model.cfg, batch=5, seed=1)
    unique = images[:2]  # two distinct images, five questions: 0, 1, 0, 0, 1
    index = torch.tensor([0, 1, 0, 0, 1])
    repeated = unique[index]

    model.fusion.return_attn = True
    with torch.no_grad():
        shared = model.encode(unique, ids, mask, image_index=index)
        alone = model.encode(repeated, ids, mask)
    model.fusion.return_attn = False
    assert_close(shared.tokens, alone.tokens)
    assert torch.equal(shared.mask, alone.mask)
    assert shared.diagnostics.keys() == alone.diagnostics.keys()
    for key in alone.diagnostics:
        assert_close(shared.diagnostics[key], alone.diagnostics[key], msg=key)

    out_shared = model(unique, ids, mask, targets, image_index=index)
    out_shared.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    out_alone = model(repeated, ids, mask, targets)
    out_alone.loss.backward()
    assert_close(out_shared.logits, out_alone.logits)
    assert_close(out_shared.loss, out_alone.loss)
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert_close(grads[name], p.grad, msg=name)

    for beams in (1, 2):
        got = model.generate(unique, ids, mask, image_index=index, num_beams=beams, max_new_tokens=4)
        assert torch.equal(got, model.generate(repeated, ids, mask, num_beams=beams, max_new_tokens=4))


def test_image_encoder_runs_once_per_image():
    model = _model("jar", {})
    images, ids, mask, _ = random_batch(model.cfg, batch=4)
    seen = []
    model.image_encoder.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0]))
    model.fusion.image_resampler.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0]))
    model.generate(images[:1], ids, mask, image_index=torch.zeros(4, dtype=torch.long), max_new_tokens=2)
    assert seen == [1, 1]  # one image through the encoder and the image resampler, for four questions


def test_image_index_of_the_wrong_shape_is_refused():
    model = _model("concat", {})
    images, ids, mask, _ = random_batch(model.cfg, batch=3)
    with pytest.raises(ValueError, match=r"image_index must be long\[3\]"):
        model.encode(images[:1], ids, mask, image_index=torch.zeros(2, dtype=torch.long))
