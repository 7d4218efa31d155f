"""The grounding objective: per-cell targets from a sample's objects, the model's head and loss,
and a training run that uses it."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import random_batch

from jarvl.data.collate import GridTargets
from jarvl.data.schema import Sample
from jarvl.data.synthetic.config import COLORS, SHAPES, SIZES
from jarvl.models import get_preset
from jarvl.models.model import JARVLModel

LABELS = {"color": tuple(COLORS), "shape": SHAPES, "size": SIZES}


def _sample(objects=None):
    return Sample(prompt="q?", target="a", task="vqa", meta={"objects": objects} if objects is not None else {})


def test_grid_targets_put_each_object_in_the_cell_of_its_centre():
    grid = GridTargets(LABELS, 8)
    objs = [
        {"shape": "square", "color": "blue", "size": "large", "x": 9, "y": 60},
        {"shape": "circle", "color": "gold", "size": "small", "x": 63, "y": 0},
    ]
    t = grid(_sample(objs), 64, 64)
    assert t.shape == (3, 64)
    first, second = 7 * 8 + 1, 0 * 8 + 7  # (row y*8//64, column x*8//64)
    assert t[:, first].tolist() == [list(COLORS).index("blue"), SHAPES.index("square"), SIZES.index("large")]
    assert t[:, second].tolist() == [-100, SHAPES.index("circle"), SIZES.index("small")]  # "gold" is no class: ignored
    rest = [c for c in range(64) if c not in (first, second)]
    assert (t[0, rest] == len(COLORS)).all() and (t[1, rest] == len(SHAPES)).all()  # "no object"
    # no objects in the record: nothing to learn from it, not "the image is empty"
    assert (grid(_sample(), 64, 64) == -100).all()
    # a larger source image maps by its own size
    assert grid(_sample([{"shape": "circle", "color": "red", "size": "small", "x": 100, "y": 10}]), 128, 128)[1, 6] == 0


def _grounded_cfg(weight=0.5):
    cfg = get_preset("tiny", "jar")
    cfg.grounding.weight = weight
    cfg.grounding.labels = dict(LABELS)
    return cfg


def test_the_loss_adds_the_weighted_grounding_objective_and_ignores_missing_targets():
    torch.manual_seed(0)
    cfg = _grounded_cfg(0.5)
    model = JARVLModel(cfg).eval()
    assert set(model.grounding) == {"color", "shape", "size"} and model.grounding["color"].out_features == 9
    images, ids, mask, targets = random_batch(cfg)
    grid = torch.randint(0, 3, (2, 3, 64))
    plain = model(images, ids, mask, targets)
    grounded = model(images, ids, mask, targets, grid_targets=grid)
    assert plain.grounding_loss is None and grounded.grounding_loss > 0
    torch.testing.assert_close(grounded.loss, plain.loss + 0.5 * grounded.grounding_loss)
    tokens = model.image_encoder(images)
    expected = sum(
        torch.nn.functional.cross_entropy(h(tokens).flatten(0, 1), grid[:, a].flatten()) for a, h in enumerate(model.grounding.values())
    )
    torch.testing.assert_close(grounded.grounding_loss, expected)
    empty = model(images, ids, mask, targets, grid_targets=torch.full((2, 3, 64), -100))
    assert empty.grounding_loss == 0 and torch.isfinite(empty.loss)
    torch.testing.assert_close(empty.loss, plain.loss)


def test_grounding_config_errors_name_the_key():
    cfg = get_preset("tiny", "jar")
    cfg.grounding.weight = 1.0
    with pytest.raises(ValueError, match="grounding.weight > 0 needs grounding.labels"):
        cfg.validate()
    cfg.grounding.weight = -1.0
    with pytest.raises(ValueError, match="grounding.weight must be"):
        cfg.validate()


def test_training_with_grounding_logs_and_checkpoints(tmp_path):
    from jarvl.train.config import build_experiment
    from jarvl.train.trainer import Trainer

    labels = {k: list(v) for k, v in LABELS.items()}
    cfg = build_experiment(
        {
            "model": {"preset": "tiny", "grounding": {"weight": 1.0, "labels": labels}},
            "data": {"train": ["synthetic:vqa:train?n=64"], "val": ["synthetic:vqa:val?n=16"], "batch_size": 16, "num_workers": 0},
        },
        ["run.max_steps=3", "run.eval_every=3", "run.eval_samples=16", "run.progress=false"],
    )
    Trainer(cfg, tmp_path / "run").fit()
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"]["grounding"]["weight"] == 1.0
    from jarvl.inference import Predictor

    pred = Predictor(tmp_path / "run")
    assert pred.model.grounding is not None  # the head travels with the checkpoint
    obj = {"shape": "circle", "color": "red", "size": "small", "x": 5, "y": 5}
    batch = pred.collate(
        [Sample(prompt="q?", target="a", task="vqa", image=torch.zeros(64, 64, 3, dtype=torch.uint8).numpy(), meta={"objects": [obj]})]
    )
    assert batch.grid_targets.shape == (1, 3, 64) and batch.grid_targets[0, 0, 0] == 0
