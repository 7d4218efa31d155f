"""Per-module tests of ``FusionConfig.share_iterations``: the iterations reuse one set of weights."""

from __future__ import annotations

import re

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from jarvl.models import FusionConfig, build_fusion

D, H = 32, 4
ITERATED = ("jar", "perceiver", "cotokenization")
_PER_ITERATION = re.compile(r"^(fuse|refine|cross|layers|learners|condition)\.\d+\.")


def _inputs(b=2, m=16, length=7):
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(b, length, dtype=torch.bool)
    mask[0, 5:] = False
    return torch.randn(b, m, D, generator=g), torch.randn(b, length, D, generator=g), mask


def _pair(name: str, **kw):
    """A shared fusion and an unshared one whose every iteration holds the shared weights."""
    cfg = dict(name=name, num_tokens=5, iterations=3, layers=6, gate_init=0.5, **kw)
    torch.manual_seed(0)
    shared = build_fusion(FusionConfig(share_iterations=True, **cfg), width=D, heads=H)
    unshared = build_fusion(FusionConfig(**cfg), width=D, heads=H)
    source = shared.state_dict()
    unshared.load_state_dict({k: source[_PER_ITERATION.sub(r"\1.0.", k)] for k in unshared.state_dict()})
    with torch.no_grad():  # distinct combination weights, so that the test sees them used per step
        for fusion in (shared, unshared):
            if hasattr(fusion, "combine_weights"):
                fusion.combine_weights.copy_(torch.tensor([0.7, 1.3]))
    return shared.eval(), unshared.eval()


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", ITERATED)
def test_shared_iterations_compute_what_copied_weights_compute(name):
    shared, unshared = _pair(name)
    image, text, mask = _inputs()
    torch.testing.assert_close(shared(image, text, mask).tokens, unshared(image, text, mask).tokens)


@pytest.mark.parametrize("name", ITERATED)
def test_sharing_keeps_the_flops_and_divides_the_iterations_parameters(name):
    shared, unshared = _pair(name)
    image, text, mask = _inputs()
    flops = []
    for fusion in (shared, unshared):
        with FlopCounterMode(display=False) as counter:
            fusion(image, text, mask)
        flops.append(counter.get_total_flops())
    assert flops[0] == flops[1] > 0
    per_iteration = {k: v.numel() for k, v in unshared.state_dict().items() if _PER_ITERATION.match(k)}
    once = sum(per_iteration.values())
    assert _params(unshared) - _params(shared) == once - once // 3  # 3 iterations -> 1 copy of each block


def test_shared_jar_reads_the_first_iterations_match_read_outs():
    kw = dict(
        image_context="tokens",
        text_context="tokens",
        match_scores=True,
        match_where=True,
        match_roles=True,
        match_direction=True,
        match_tally=True,
    )
    shared, unshared = _pair("jar", **kw)
    image, text, mask = _inputs()
    a, b = shared(image, text, mask), unshared(image, text, mask)
    for field in ("tokens", "roles", "offset", "asked", "tally"):
        torch.testing.assert_close(getattr(a, field), getattr(b, field), msg=field)
    # a shared block ends the forward holding the *last* iteration's read-out; the output keeps the first
    assert not torch.allclose(shared.fuse[0].tally, a.tally)


def test_shared_jar_has_one_block_and_one_stack():
    fusion = build_fusion(FusionConfig(num_tokens=4, iterations=4, layers=8, share_iterations=True), width=D, heads=H)
    assert len(fusion.fuse) == 1 and len(fusion.refine) == 1 and len(fusion.refine[0]) == 2
    assert fusion.combine_weights.shape == (3,)  # Eq. 4's weight per step stays per step


@pytest.mark.parametrize("name", ["concat", "cross_attention"])
def test_fusions_that_do_not_iterate_ignore_it(name):
    cfg = dict(name=name, num_tokens=5, iterations=3, layers=6)
    torch.manual_seed(0)
    shared = build_fusion(FusionConfig(share_iterations=True, **cfg), width=D, heads=H)
    torch.manual_seed(0)
    unshared = build_fusion(FusionConfig(**cfg), width=D, heads=H)
    assert _params(shared) == _params(unshared)
    image, text, mask = _inputs()
    torch.testing.assert_close(shared.eval()(image, text, mask).tokens, unshared.eval()(image, text, mask).tokens)
