"""The peers' fusions (benchmark-only ``jarvl[peers]`` extra) honour the fusion contract inside JARVLModel."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("flamingo_pytorch")
pytest.importorskip("perceiver_pytorch")
pytest.importorskip("transformers")

from benchmarks import peer_fusions  # noqa: E402
from jarvl.models import build_model  # noqa: E402
from jarvl.profiling.profiler import make_inputs  # noqa: E402


@pytest.mark.parametrize("fusion", peer_fusions.PEERS)
def test_peer_fusion_trains_inside_the_model(fusion):
    model = build_model("tiny", fusion)
    images, ids, mask, targets = make_inputs(model.cfg, 2, 6, 3, torch.device("cpu"))
    mask[1, 4:] = False
    out = model(images, ids, mask, targets)
    expected = {"peer_flamingo": 6, "peer_perceiver": model.cfg.fusion.num_tokens, "peer_vilt": 64 + 6}[fusion]
    assert out.fusion.tokens.shape == (2, expected, model.cfg.width) and out.fusion.mask.shape == (2, expected)
    out.loss.backward()
    assert torch.isfinite(out.loss) and any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.fusion.parameters())
