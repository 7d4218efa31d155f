"""Every YAML config shipped in ``jarvl/configs`` loads, validates and builds its model."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from jarvl.models.model import JARVLModel
from jarvl.train.config import build_experiment

CONFIGS = sorted(p.name for p in resources.files("jarvl.configs").iterdir() if p.name.endswith(".yaml"))


def test_the_shipped_configs_are_found():
    assert {"demo.yaml", "one_object.yaml"} <= set(CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_config_builds(name):
    text = resources.files("jarvl.configs").joinpath(name).read_text()
    cfg = build_experiment(yaml.safe_load(text), [])
    model = JARVLModel(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_one_object_recipe_uses_the_comparison_levers():
    text = resources.files("jarvl.configs").joinpath("one_object.yaml").read_text()
    cfg = build_experiment(yaml.safe_load(text), [])
    assert cfg.model.fusion.match_scores and cfg.model.fusion.image_context == "tokens"
    assert set(cfg.data.mixture) == {"describe", "exists"}
    model = JARVLModel(cfg.model)
    assert model.fusion.image_resampler is None and all(g.score is not None for g in model.fusion.fuse)
