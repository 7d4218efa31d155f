"""Typed configs: unknown keys and wrong types are errors naming the key, with a suggestion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jarvl.config import ConfigError, apply_overrides, from_dict, to_dict
from jarvl.models import ModelConfig, get_preset


def test_unknown_key_suggests_closest():
    with pytest.raises(ConfigError, match=r"unknown config key 'fusion.num_token'; did you mean 'fusion.num_tokens'"):
        apply_overrides(get_preset("tiny"), ["fusion.num_token=8"])
    with pytest.raises(ConfigError, match=r"'vison'.*did you mean 'vision'"):
        from_dict(ModelConfig, {"vison": {}})


@pytest.mark.parametrize(
    "override, suggestion",
    [
        ("lr=1e-3", "optim.lr"),  # a bare leaf: the full dotted key, ready for --set
        ("optim.lrr=1e-3", "optim.lr"),
        ("batch_size=8", "data.batch_size"),
        ("model.fusion.num_token=8", "model.fusion.num_tokens"),
    ],
)
def test_suggestion_is_the_full_dotted_key(override, suggestion):
    from jarvl.train.config import build_experiment

    with pytest.raises(ConfigError, match=rf"did you mean '{suggestion}'\?"):
        build_experiment({}, [override])


def test_yaml_model_section_suggestion_names_the_model_key():
    from jarvl.train.config import build_experiment

    with pytest.raises(ConfigError, match=r"'model.fusion.num_token'; did you mean 'model.fusion.num_tokens'"):
        build_experiment({"model": {"fusion": {"num_token": 8}}})


def test_wrong_type_names_key():
    with pytest.raises(ConfigError, match="fusion.num_tokens: expected an integer"):
        apply_overrides(get_preset("tiny"), ["fusion.num_tokens=many"])
    with pytest.raises(ConfigError, match=r"fusion.combine: 'sum' is not one of"):
        apply_overrides(get_preset("tiny"), ["fusion.combine=sum"])


def test_overrides_parse_by_declared_type():
    cfg = apply_overrides(get_preset("tiny"), ["fusion.num_tokens=32", "fusion.gate_init=0.1", "vision.stem=patch"])
    assert cfg.fusion.num_tokens == 32 and cfg.fusion.gate_init == 0.1 and cfg.vision.stem == "patch"


def test_invalid_combination_fails_at_validation():
    cfg = apply_overrides(get_preset("tiny"), ["vision.image_size=60"])
    with pytest.raises(ValueError, match="not a multiple of vision.patch_size"):
        cfg.validate()


@given(st.sampled_from(["tiny", "small", "paper-base"]), st.integers(1, 256), st.sampled_from(["weighted", "residual", "none"]))
def test_round_trip(preset, n, combine):
    cfg = apply_overrides(get_preset(preset), {"fusion.num_tokens": n, "fusion.combine": combine})
    assert from_dict(ModelConfig, to_dict(cfg)) == cfg
