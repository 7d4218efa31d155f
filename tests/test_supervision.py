"""The supervision fields of ``meta`` (jarvl.data.supervision): the generator's pass, a malformed one is
named with its record and key when the index is opened, or skipped and counted in a shard."""

from __future__ import annotations

import json

import pytest

from jarvl.data.readers.jsonl import JsonlDataset, write_jsonl_dataset
from jarvl.data.supervision import SUPERVISION_KEYS, supervision_problem
from jarvl.data.synthetic import SyntheticDataset

OBJECTS = [{"x": 10, "y": 20, "color": "red"}, {"x": 40.5, "y": 8, "color": "blue"}]
PROMPT = "is the red circle left of the blue square?"


def test_every_synthetic_question_passes_and_fills_every_field():
    samples = list(SyntheticDataset("vqa", "train", 400, seed=3))
    seen = set()
    for s in samples:
        assert supervision_problem(s.meta, s.prompt) is None, (s.prompt, s.meta)
        seen |= set(s.meta) & set(SUPERVISION_KEYS)
    assert seen == set(SUPERVISION_KEYS)


def test_a_written_synthetic_dataset_reads_back(tmp_path):
    samples = list(SyntheticDataset("vqa", "train", 40, seed=5))
    assert len(JsonlDataset(write_jsonl_dataset(samples, tmp_path / "ds"))) == 40


@pytest.mark.parametrize(
    "meta, message",
    [
        ({"objects": {"x": 1}}, "meta.objects must be a list"),
        ({"objects": [{"x": 1}]}, r"meta.objects\[0\] must be an object with numbers x, y >= 0"),
        ({"objects": [{"x": -3, "y": 2}]}, r"meta.objects\[0\]"),
        ({"objects": OBJECTS, "referents": [2]}, r"meta.referents must be a list of indices into meta.objects \(0 .. 1\)"),
        ({"referents": [0]}, "which is missing or empty"),
        ({"objects": OBJECTS, "phrases": [[4, 14, [5]]]}, r"meta.phrases\[0\]: the objects must be a list of indices"),
        ({"objects": OBJECTS, "phrases": [[4, 99, [0]]]}, r"meta.phrases\[0\]: start 4 and end 99 .* <= 42 \(the prompt's length\)"),
        ({"directions": [[15, 22]]}, r"meta.directions\[0\] must be \[start, end, ...\]"),
        ({"directions": [[15, 22, [1, "left"]]]}, r"meta.directions\[0\]: the direction must be \[dx, dy\]"),
        ({"comparatives": [[0, 2, [1, 0]]]}, r"meta.comparatives\[0\]: the asks must be \[a, b, c\]"),
        ({"same": [[0, 2, ""]]}, r"meta.same\[0\]: the attribute must be a non-empty string"),
        ({"same": "size"}, "meta.same must be a list of"),
    ],
)
def test_a_malformed_field_is_named_with_its_file_and_line(tmp_path, meta, message):
    path = tmp_path / "index.jsonl"
    good = {"image": "a.png", "prompt": PROMPT, "target": "yes", "task": "vqa"}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "meta": meta}) + "\n")
    with pytest.raises(ValueError, match=message) as err:
        JsonlDataset(path)
    assert str(err.value).startswith(f"{path}, line 2: meta.")


def test_other_meta_keys_are_the_readers_own():
    assert supervision_problem({"image_id": 7, "split": "train", "question_type": "what"}) is None
