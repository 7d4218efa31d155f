"""The JSONL dataset format: round trip and loud, located errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jarvl.data.readers.jsonl import JsonlDataset, write_jsonl_dataset
from jarvl.data.schema import Sample
from jarvl.data.synthetic import SyntheticDataset


def test_round_trip(tmp_path):
    samples = list(SyntheticDataset("vqa", "train", 6, seed=1))
    index = write_jsonl_dataset(samples, tmp_path / "ds")
    assert index == tmp_path / "ds" / "index.jsonl"
    ds = JsonlDataset(index)
    assert len(ds) == 6
    for original, read in zip(samples, ds):
        assert np.array_equal(original.image, read.image) and read.image.dtype == np.uint8
        for key in ("prompt", "target", "task", "family", "id", "answers", "meta"):
            assert getattr(read, key) == getattr(original, key), key
        assert read.image_path.endswith(".png")
    with pytest.raises(ValueError, match="already exists"):
        write_jsonl_dataset(samples, tmp_path / "ds")


def _write_index(tmp_path, records):
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path = tmp_path / "index.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = {"image": "a.png", "prompt": "is there a cat?", "target": "yes", "task": "vqa"}


@pytest.mark.parametrize(
    "bad, message",
    [
        ("{not json", "not valid JSON"),
        ({k: v for k, v in GOOD.items() if k != "target"}, "missing required field 'target'"),
        ({**GOOD, "prompt": 3}, "field 'prompt' has type int"),
        ({**GOOD, "answers": ["yes", 1]}, "list of strings"),
        ({**GOOD, "task": "detection"}, "task 'detection'"),
        ({**GOOD, "question": "x"}, "unknown field 'question'"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, bad, message):
    path = _write_index(tmp_path, [GOOD, "", bad])
    with pytest.raises(ValueError, match=message) as err:
        JsonlDataset(path)
    assert f"{path}, line 3" in str(err.value)


def test_missing_image_names_file_and_record(tmp_path):
    ds = JsonlDataset(_write_index(tmp_path, [{**GOOD, "id": "q7"}]))
    assert len(ds) == 1 and ds.records[0]["id"] == "q7"
    from jarvl.data.bad_records import BadRecord

    with pytest.raises(BadRecord, match=r"missing_image: q7 .*a\.png"):
        ds[0]


def test_absolute_paths_and_samples_without_pixels(tmp_path):
    image = np.zeros((5, 7, 3), dtype=np.uint8)
    image[1, 2] = (255, 0, 0)
    first = write_jsonl_dataset([Sample(prompt="p", target="t", task="caption", image=image)], tmp_path / "one")
    on_disk = JsonlDataset(first)[0]
    assert on_disk.id == "0" and np.array_equal(on_disk.image, image)
    # A lazily loaded sample (no pixels) is written as a reference to its file.
    lazy = Sample(prompt="p", target="t", task="caption", image_path=on_disk.image_path)
    second = JsonlDataset(write_jsonl_dataset([lazy], tmp_path / "two"))
    assert second.records[0]["image"] == on_disk.image_path
    assert np.array_equal(second[0].image, image)
    with pytest.raises(ValueError, match="neither image nor image_path"):
        write_jsonl_dataset([Sample(prompt="p", target="t", task="vqa")], tmp_path / "three")


def _index_with_bad_text(tmp_path):
    """Five records: good, empty target, blank prompt, a 50,000-character prompt, a line that is not UTF-8."""
    from PIL import Image

    Image.new("RGB", (8, 8), (9, 9, 9)).save(tmp_path / "a.png")
    lines = [
        json.dumps({**GOOD, "id": "ok"}).encode(),
        json.dumps({**GOOD, "target": "", "id": "no-target"}).encode(),
        json.dumps({**GOOD, "prompt": " \u200b\t", "id": "blank-prompt"}).encode(),
        json.dumps({**GOOD, "prompt": "why?" * 12_500, "id": "long"}).encode(),
        json.dumps({**GOOD, "prompt": "caf\u00e9?", "id": "latin1"}).encode("latin-1").replace(b"\\u00e9", b"\xe9"),
    ]
    path = tmp_path / "index.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_bad_text_is_skipped_and_counted_with_file_and_line(tmp_path):
    from jarvl.data.bad_records import BadRecord, SkipStats
    from jarvl.data.loader import SafeDataset

    path = _index_with_bad_text(tmp_path)
    ds = JsonlDataset(path)  # opens: one bad record never fails the file
    assert len(ds) == 5 and ds[0].prompt == "is there a cat?"
    stats = SkipStats()
    for item in SafeDataset(ds):
        stats.merge(1, [(item.reason, item.source)] if isinstance(item, BadRecord) else [])
    assert stats.seen == 5 and dict(stats.counts) == {"empty_text": 2, "text_too_long": 1, "not_utf8": 1}
    examples = " ".join(e for group in stats.examples.values() for e in group)
    for line, name in ((2, "'target'"), (3, "'prompt'"), (4, "50000 > 2000"), (5, "byte 0xe9")):
        assert f"{path}, line {line}" in examples and name in examples, (line, examples)


def test_jsonl_max_chars_option(tmp_path):
    from jarvl.data.registry import open_dataset

    path = _index_with_bad_text(tmp_path)
    assert open_dataset(f"jsonl:{path}?max_chars=60000")[3].prompt.startswith("why?why?")
    with pytest.raises(ValueError, match="unknown option 'max_char'.*did you mean 'max_chars'"):
        open_dataset(f"jsonl:{path}?max_char=5")
