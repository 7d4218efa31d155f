"""WebDataset shards as img2dataset writes them (LAION, CC3M, CC12M, DataComp): jpg + txt caption + json metadata."""

from __future__ import annotations

import json

import pytest
import webdataset as wds
from fixtures import image_bytes

from jarvl.data.bad_records import BadRecord
from jarvl.data.registry import open_dataset
from jarvl.data.schema import Sample


def metadata(key: str, caption: str | None) -> dict:
    """The json img2dataset writes beside each image (its fields, with made-up values)."""
    return {
        "key": key,
        "url": f"https://example.com/{key}.jpg",
        "caption": caption,
        "status": "success",
        "error_message": None,
        "width": 12,
        "height": 8,
        "original_width": 640,
        "original_height": 427,
        "exif": "{}",
        "sha256": "0" * 64,
    }


def write_shard(path, samples: list[dict]) -> None:
    """One shard through webdataset's own TarWriter (the writer img2dataset uses)."""
    with wds.TarWriter(str(path)) as sink:
        for sample in samples:
            sink.write(sample)


@pytest.fixture
def shards(tmp_path):
    write_shard(
        tmp_path / "00000.tar",
        [
            # the img2dataset layout: caption in txt, the same caption and metadata in json
            {
                "__key__": "000000000",
                "jpg": image_bytes(),
                "txt": "A red square on white.",
                "json": json.dumps(metadata("000000000", "A red square on white.")).encode(),
            },
            # txt and json disagree: the txt member is the caption
            {
                "__key__": "000000001",
                "jpg": image_bytes(),
                "txt": "From the txt.",
                "json": json.dumps(metadata("000000001", "From the json.")).encode(),
            },
        ],
    )
    write_shard(
        tmp_path / "00001.tar",
        [
            # no txt: the json's caption
            {"__key__": "000010000", "jpg": image_bytes(), "json": json.dumps(metadata("000010000", "Only in json.")).encode()},
            # a task record json wins over a txt
            {
                "__key__": "000010001",
                "jpg": image_bytes(),
                "txt": "ignored caption",
                "json": json.dumps({"prompt": "what color?", "target": "red", "task": "vqa"}).encode(),
            },
            # metadata without any caption and no txt: a bad record, counted
            {"__key__": "000010002", "jpg": image_bytes(), "json": json.dumps(metadata("000010002", None)).encode()},
        ],
    )
    (tmp_path / "00000.parquet").write_bytes(b"PAR1 not read")  # img2dataset writes these beside the tars
    return str(tmp_path / "{00000..00001}.tar")


def test_metadata_json_never_hides_the_caption(shards):
    items = list(open_dataset(f"wds:{shards}"))
    good = {s.id: s for s in items if isinstance(s, Sample)}
    bad = {b.source: b for b in items if isinstance(b, BadRecord)}
    assert list(good) == ["000000000", "000000001", "000010000", "000010001"]
    first = good["000000000"]
    assert (first.task, first.prompt, first.target, first.answers) == (
        "caption",
        "describe the image.",
        "A red square on white.",
        ["A red square on white."],
    )
    assert first.image.shape == (8, 12, 3)
    assert good["000000001"].target == "From the txt."
    assert good["000010000"].target == "Only in json."
    assert (good["000010001"].task, good["000010001"].target) == ("vqa", "red")
    assert list(bad) == ["00001.tar:000010002"] and bad["00001.tar:000010002"].reason == "bad_record"
    assert "caption" in bad["00001.tar:000010002"].detail


def test_metadata_is_kept_in_meta(shards):
    sample = next(s for s in open_dataset(f"wds:{shards}") if isinstance(s, Sample))
    assert sample.meta["url"] == "https://example.com/000000000.jpg"
    assert (sample.meta["status"], sample.meta["width"], sample.meta["original_width"]) == ("success", 12, 640)
    assert sample.meta["key"] == "000000000" and sample.meta["shard"].endswith("00000.tar")


def test_a_task_record_with_a_bad_task_is_still_bad(tmp_path):
    write_shard(
        tmp_path / "a.tar",
        [
            {
                "__key__": "k",
                "jpg": image_bytes(),
                "txt": "a caption",
                "json": json.dumps({"prompt": "p", "target": "t", "task": "detect"}).encode(),
            }
        ],
    )
    items = list(open_dataset(f"wds:{tmp_path / 'a.tar'}"))
    assert len(items) == 1 and isinstance(items[0], BadRecord) and "detect" in items[0].detail


def test_img2dataset_shards_collate_into_a_batch(shards):
    from jarvl.data.collate import Collator
    from jarvl.data.tokenizer import train_tokenizer

    samples = [s for s in open_dataset(f"wds:{shards}") if isinstance(s, Sample)]
    tok = train_tokenizer([t for s in samples for t in (s.prompt, s.target)], vocab_size=64)
    batch = Collator(tok, image_size=16, max_text_len=8, max_target_len=8)(samples)
    assert len(batch) == 4 and batch.images.shape == (4, 3, 16, 16) and batch.targets.shape[0] == 4


def test_a_caption_record_with_malformed_supervision_is_skipped_and_counted(tmp_path):
    good = {"__key__": "g", "jpg": image_bytes(), "txt": "a red square.", "json": json.dumps(metadata("g", "a red square.")).encode()}
    bad_meta = {**metadata("b", "two squares."), "objects": [{"x": 3}]}
    bad = {"__key__": "b", "jpg": image_bytes(), "txt": "two squares.", "json": json.dumps(bad_meta).encode()}
    write_shard(tmp_path / "a.tar", [good, bad])
    items = list(open_dataset(f"wds:{tmp_path / 'a.tar'}"))
    assert [type(i).__name__ for i in items] == ["Sample", "BadRecord"]
    assert items[1].reason == "bad_record" and "meta.objects[0]" in items[1].detail and items[1].source == "a.tar:b"
