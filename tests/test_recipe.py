"""The recipes beneath an experiment: what `jarvl train`'s everyday flags give (issue #11)."""

from __future__ import annotations

import pytest
import yaml

from jarvl.cli.main import build_parser
from jarvl.cli.train_cmd import experiment_from_args
from jarvl.config import ConfigError
from jarvl.models import get_preset
from jarvl.train.config import build_experiment, shipped_recipe

SPECS = ["--train", "synthetic:vqa:train?n=100", "--val", "synthetic:vqa:val?n=9"]


def _flags(*extra: str):
    return experiment_from_args(build_parser().parse_args(["train", "--out", "x", "--model", "tiny", *SPECS, *extra]))


def _model_keys(cfg) -> dict:
    m = cfg.model
    return {
        "fusion": {k: getattr(m.fusion, k) for k in ("name", "match_scores", "match_count", "image_context", "text_context")},
        "grounding": (m.grounding.weight, dict(m.grounding.labels)),
        "referring": (m.referring.weight, m.referring.phrases),
    }


def test_the_everyday_flags_give_the_demo_recipe():
    cfg = _flags("--fusion", "jar")
    assert cfg.recipe == "learns" and cfg.model.fusion.gate_init is None  # gates on auto: open from scratch
    assert _model_keys(cfg) == _model_keys(shipped_recipe("demo"))  # the demo's YAML spells out the same recipe
    assert cfg.optim.lr == shipped_recipe("demo").optim.lr


def test_recipe_paper_gives_the_library_defaults_the_papers_plain_jar():
    cfg = _flags("--fusion", "jar", "--recipe", "paper")
    assert cfg.recipe == "paper" and cfg.model == get_preset("tiny", "jar")
    assert build_experiment({}).model == get_preset("tiny")  # the library's own default is the paper's


def test_keys_set_by_hand_win_over_the_recipe(tmp_path):
    cfg = _flags("--set", "model.fusion.match_count=false", "--set", "model.referring.weight=1.0")
    assert cfg.model.fusion.match_count is False and cfg.model.referring.weight == 1.0 and cfg.model.fusion.match_scores
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"recipe": "paper", "model": {"grounding": {"labels": {"color": ["red", "blue"]}}}}))
    assert _flags("--config", str(path)).model.fusion.match_scores is False  # the YAML names its recipe
    cfg = build_experiment({"model": {"grounding": {"labels": {"color": ["red", "blue"]}}}}, ["recipe=learns"])
    assert cfg.model.grounding.labels == {"color": ("red", "blue")} and cfg.model.grounding.weight == 1.0


def test_the_recipe_leaves_out_what_the_model_cannot_carry():
    concat = _flags("--fusion", "concat")
    assert concat.model.referring.weight == 0.0 and concat.model.grounding.weight == 1.0
    with pytest.raises(ValueError, match="referring.weight > 0 needs fusion.name=jar"):
        _flags("--fusion", "concat", "--set", "model.referring.weight=3")  # by hand: an error, as before
    latents = _flags("--set", "model.fusion.image_context=latents")
    assert latents.model.referring.weight == 0.0
    pretrained = _flags("--set", "model.vision.backbone=/models/vit")
    assert pretrained.model.grounding.weight == 0.0 and pretrained.model.referring.weight == 0.0
    assert pretrained.model.fusion.gate_init is None  # auto: closed beside a pretrained tower


def test_an_unknown_recipe_is_one_error_naming_the_choices():
    with pytest.raises(ConfigError, match="unknown recipe 'nope'; choose one of: paper, learns"):
        build_experiment({}, ["recipe=nope"])
