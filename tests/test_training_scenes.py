"""The task does not change: no scene the demo scores on (test, comp) occurs in any stream a shipped
recipe trains on (its VQA data, its describe/pre-training mixture, several questions per image),
and every such stream reads the train split."""

from __future__ import annotations

import pytest

from jarvl.data.registry import DatasetSpec, open_dataset
from jarvl.train.config import shipped_recipe

STREAM_ITEMS = 600  # per training stream; held-out scenes compared: the demo's 2,000 test + 500 comp


def _scenes(spec: DatasetSpec, n: int) -> set:
    ds = open_dataset(spec)
    return {ds.item(i).scene.objects for i in range(min(n, len(ds)))}


def _training_streams(recipe: str) -> list[DatasetSpec]:
    data = shipped_recipe(recipe).data
    specs = [DatasetSpec.parse(s) for s in (list(data.mixture.values()) or data.train)]
    # the same streams with several questions per image: follow-ups reuse the group's train scene
    specs += [DatasetSpec(s.format, s.path, s.split, {**s.options, "questions_per_image": "4"}) for s in specs if s.path == "vqa"]
    return specs


@pytest.mark.parametrize("recipe", ["demo", "one_object"])
def test_every_training_stream_of_a_shipped_recipe_reads_the_train_split(recipe):
    for spec in _training_streams(recipe):
        assert spec.format == "synthetic" and spec.split == "train", spec


def test_no_held_out_scene_occurs_in_a_training_stream():
    # The demo's 3-6-object scenes, compared by content. (One-object scenes repeat by chance, about
    # 120k distinct ones: for those only the split, i.e. the seeded stream, can be checked, above.)
    recipe = "demo"
    exp = shipped_recipe(recipe)
    scenes = DatasetSpec.parse(exp.data.val[0]).without_options("n").options  # as `jarvl demo` builds its held-out splits
    held_out = _scenes(DatasetSpec("synthetic", "vqa", "test", {"n": "2000", **scenes}), 2000)
    held_out |= _scenes(DatasetSpec("synthetic", "vqa", "comp", {"n": "500", **scenes}), 500)
    assert len(held_out) > 2000  # distinct scenes, so the check has something to find
    for spec in _training_streams(recipe):
        seen = _scenes(spec, STREAM_ITEMS)
        assert seen and not (seen & held_out), spec
