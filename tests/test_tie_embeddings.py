"""Per-module tests of ``ModelConfig.tie_embeddings`` and the ``paper-base-shared`` preset."""

from __future__ import annotations

import pytest
import torch

from jarvl.models import build_model, get_preset, load_model, save_model


def _tied():
    cfg = get_preset("tiny", "jar")
    cfg.tie_embeddings = True
    torch.manual_seed(0)
    return build_model(cfg)


def test_the_text_encoder_and_the_decoder_read_one_table():
    tied, untied = _tied(), build_model("tiny", "jar")
    assert tied.text_encoder.embed.weight is tied.decoder.embed.weight
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(untied) - count(tied) == tied.decoder.embed.weight.numel()


def test_a_tied_model_round_trips_through_its_weights(tmp_path):
    model = _tied().eval()
    with torch.no_grad():
        model.text_encoder.embed.weight.add_(0.5)  # moved away from its init, so loading must restore it
    save_model(model, tmp_path)
    loaded = load_model(tmp_path).eval()
    assert loaded.text_encoder.embed.weight is loaded.decoder.embed.weight
    torch.testing.assert_close(loaded.decoder.embed.weight, model.decoder.embed.weight)


def test_one_gradient_step_moves_both_uses_of_the_table():
    model = _tied()
    ids = torch.randint(4, 60, (2, 6))
    mask = torch.ones(2, 6, dtype=torch.bool)
    model.text_encoder(ids, mask).sum().backward()  # the encoder's use alone
    assert model.decoder.embed.weight.grad is not None and model.decoder.embed.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("change", [{"text.width": 64}, {"text.freeze": True}])
def test_tying_needs_the_built_in_unfrozen_text_tower_at_the_model_width(change):
    cfg = get_preset("tiny", "jar")
    cfg.tie_embeddings = True
    ((key, value),) = change.items()
    setattr(cfg.text, key.split(".")[1], value)
    with pytest.raises(ValueError, match="tie_embeddings needs the built-in, unfrozen text tower"):
        cfg.validate()


def test_paper_base_shared_fits_the_parameters_better_at_the_same_multiply_adds():
    from jarvl.models.model import JARVLModel

    counts = {}
    for name in ("paper-base", "paper-base-shared"):
        with torch.device("meta"):
            counts[name] = sum(p.numel() for p in JARVLModel(get_preset(name)).parameters())
    assert 600e6 < counts["paper-base"] < 610e6
    assert 385e6 < counts["paper-base-shared"] < 395e6  # the paper's earlier version: 350M
