"""Generation: length limit, EOS handling, beam search finds at least the greedy score."""

from __future__ import annotations

import torch
from conftest import random_batch

from jarvl.models import build_model


def _sequence_logprob(model, images, ids, mask, seq):
    """Sum of log p of ``seq`` (up to and including EOS) under teacher forcing."""
    eos = model.cfg.text.eos_id
    with torch.no_grad():
        logits = model(images, ids, mask, seq).logits.log_softmax(-1)
    total = 0.0
    for t, tok in enumerate(seq[0].tolist()):
        total += float(logits[0, t, tok])
        if tok == eos:
            break
    return total


def test_length_limit_and_eos():
    torch.manual_seed(0)
    model = build_model("tiny", "jar").eval()
    images, ids, mask, _ = random_batch(model.cfg)
    out = model.generate(images, ids, mask, max_new_tokens=3)
    assert out.shape[1] <= 3
    assert model.generate(images, ids, mask, max_new_tokens=99).shape[1] <= model.cfg.decoder.max_len
    # Force EOS to be the most likely token: generation stops after one step.
    with torch.no_grad():
        model.decoder.norm.weight.zero_()  # final hidden state = the norm's bias = ones
        model.decoder.norm.bias.fill_(1.0)
        model.decoder.embed.weight[model.cfg.text.eos_id] = 10.0
    out = model.generate(images, ids, mask, max_new_tokens=5)
    assert out.shape[1] == 1 and bool((out[:, 0] == model.cfg.text.eos_id).all())


def test_beam_search_scores_at_least_greedy():
    torch.manual_seed(1)
    model = build_model("tiny", "concat").eval()
    images, ids, mask, _ = random_batch(model.cfg, batch=1)
    greedy = model.generate(images, ids, mask, max_new_tokens=4)
    beam = model.generate(images, ids, mask, max_new_tokens=4, num_beams=5, length_penalty=0.0)
    pad = lambda s: torch.nn.functional.pad(s, (0, 4 - s.shape[1]), value=model.cfg.text.pad_id)  # noqa: E731
    assert _sequence_logprob(model, images, ids, mask, pad(beam)) >= _sequence_logprob(model, images, ids, mask, pad(greedy)) - 1e-4


def test_beam_of_one_equals_greedy():
    torch.manual_seed(2)
    model = build_model("tiny", "perceiver").eval()
    images, ids, mask, _ = random_batch(model.cfg)
    # one beam keeps the best continuation at each step, exactly as greedy search does
    from jarvl.models.generation import beam_search

    fused = model.encode(images, ids, mask)
    ids_ = dict(bos_id=1, eos_id=2, pad_id=0, max_new_tokens=5)
    beam = beam_search(model.decoder, fused.tokens, fused.mask, num_beams=1, length_penalty=0.0, **ids_)
    assert torch.equal(beam, model.generate(images, ids, mask, max_new_tokens=5))
