"""Each real-dataset reader emits the right Samples from a fixture in the benchmark's exact layout."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from fixtures import (
    GQA_ITEMS,
    KARPATHY,
    SNLI_VE_ITEMS,
    VQA_ITEMS,
    build_coco_karpathy,
    build_coco_official,
    build_gqa,
    build_snli_ve,
    build_vqa2,
    build_wds,
    write,
)

from jarvl.data.bad_records import BadRecord
from jarvl.data.registry import DatasetSpec, open_dataset
from jarvl.data.schema import Sample


@pytest.mark.parametrize(
    "spec, parsed",
    [
        ("vqa2:/data/vqa:val2014", ("vqa2", "/data/vqa", "val2014", {})),
        ("gqa:/data/gqa:testdev_balanced", ("gqa", "/data/gqa", "testdev_balanced", {})),
        ("snli-ve:/d/snli:dev?image_root=/data/flickr", ("snli-ve", "/d/snli", "dev", {"image_root": "/data/flickr"})),
        ("coco-captions:/coco:train?per_caption=1", ("coco-captions", "/coco", "train", {"per_caption": "1"})),
        ("wds:/data/shard-{000..009}.tar?n=90", ("wds", "/data/shard-{000..009}.tar", None, {"n": "90"})),
    ],
)
def test_specs_parse(spec, parsed):
    s = DatasetSpec.parse(spec)
    assert (s.format, s.path, s.split, s.options) == parsed
    assert DatasetSpec.parse(str(s)) == s


def _check_image(sample: Sample) -> None:
    assert sample.image is not None and sample.image.dtype == np.uint8 and sample.image.shape == (8, 12, 3)
    assert os.path.isfile(sample.image_path)


def test_vqa2(tmp_path):
    qids = build_vqa2(tmp_path)
    ds = open_dataset(f"vqa2:{tmp_path}:val2014")
    assert len(ds) == len(VQA_ITEMS)
    s = ds[1]
    _check_image(s)
    assert (s.prompt, s.target, s.task, s.family, s.id) == ("how many dogs are there?", "3", "vqa", "number", str(qids[1]))
    assert s.answers == ["2"] * 2 + ["3"] * 8
    assert s.meta == {"question_type": "how many", "question_id": qids[1], "image_id": 101}
    assert s.image_path.endswith("val2014/COCO_val2014_000000000101.jpg")
    assert ds.record(1).image is None and ds.record(1).prompt == s.prompt


def test_vqa2_test_split_and_image_root(tmp_path):
    build_vqa2(tmp_path / "images", split="test2015", annotated=False)
    os.rename(tmp_path / "images/v2_OpenEnded_mscoco_test2015_questions.json", tmp_path / "v2_OpenEnded_mscoco_test-dev2015_questions.json")
    ds = open_dataset(f"vqa2:{tmp_path}:test-dev2015?image_root={tmp_path / 'images'}")
    s = ds[0]  # test-dev questions use the test2015 images
    _check_image(s)
    assert s.target == "" and s.answers == [] and not ds.annotated
    with pytest.raises(ValueError, match="unknown option 'imageroot'.*did you mean 'image_root'"):
        open_dataset(f"vqa2:{tmp_path}:test-dev2015?imageroot=x")
    with pytest.raises(FileNotFoundError, match="v2_OpenEnded_mscoco_val2014_questions.json"):
        open_dataset(f"vqa2:{tmp_path}:val2014")


def test_gqa(tmp_path):
    build_gqa(tmp_path)
    ds = open_dataset(f"gqa:{tmp_path}:val_balanced")
    assert [s.id for s in (ds.record(i) for i in range(len(ds)))] == list(GQA_ITEMS)
    s = ds[1]
    _check_image(s)
    assert (s.prompt, s.target, s.family, s.task) == ("is the bus red?", "yes", "verify", "vqa")
    assert s.answers == ["yes"] and s.meta["image_id"] == "n1" and s.meta["full_answer"] == "The answer is yes."
    assert s.image_path.endswith("images/n1.jpg")


def test_snli_ve_with_image_root(tmp_path):
    build_snli_ve(tmp_path / "ve", image_root=tmp_path / "flickr")
    ds = open_dataset(f"snli-ve:{tmp_path / 've'}:dev?image_root={tmp_path / 'flickr'}")
    assert len(ds) == 3
    s = ds[1]
    _check_image(s)
    assert (s.prompt, s.target, s.family, s.task, s.id) == ("A cat sleeps.", "contradiction", "contradiction", "entailment", "100.jpg#1r1")
    assert [ds.record(i).target for i in range(3)] == [label for _, _, label in SNLI_VE_ITEMS]
    build_snli_ve(tmp_path / "ve2")  # images in ROOT/flickr30k_images
    _check_image(open_dataset(f"snli-ve:{tmp_path / 've2'}:dev")[0])


def test_coco_karpathy(tmp_path):
    build_coco_karpathy(tmp_path)
    train = open_dataset(f"coco-captions:{tmp_path}:train")  # train + restval
    assert [train.record(i).id for i in range(len(train))] == ["1", "2"]
    s = train[0]
    _check_image(s)
    assert (s.prompt, s.target, s.task) == ("describe the image.", "A man rides a horse.", "caption")
    assert s.answers == KARPATHY[0][2] and s.meta["image_id"] == 1
    per_caption = open_dataset(f"coco-captions:{tmp_path}:train?per_caption=1")
    assert [per_caption.record(i).target for i in range(len(per_caption))] == [
        "A man rides a horse.",
        "A person on a horse.",
        "Two cats on a sofa.",
    ]
    assert per_caption.record(1).id == "1/1" and per_caption.record(1).answers == KARPATHY[0][2]
    val = open_dataset(f"coco-captions:{tmp_path}:val")
    assert len(val) == 1 and val[0].image_path.endswith("val2014/COCO_val2014_000000000003.jpg")


def test_coco_official(tmp_path):
    captions = build_coco_official(tmp_path)
    ds = open_dataset(f"coco-captions:{tmp_path}:val2017")
    assert ds.layout == "official" and len(ds) == 2
    s = ds[0]
    _check_image(s)
    assert s.id == "7" and s.target == captions[7][0] and s.answers == captions[7]
    assert len(open_dataset(f"coco-captions:{tmp_path}:val2017?per_caption=true")) == 3
    with pytest.raises(FileNotFoundError, match="captions_val2014.json"):
        open_dataset(f"coco-captions:{tmp_path}:val2014")


def test_wds_stream(tmp_path, monkeypatch):
    pattern = build_wds(tmp_path)
    ds = open_dataset(f"wds:{pattern}")
    items = list(ds)
    good = [i for i in items if isinstance(i, Sample)]
    bad = {i.source: i.reason for i in items if isinstance(i, BadRecord)}
    assert [s.id for s in good] == ["000", "001", "003"]
    assert bad == {"shard-000.tar:002": "corrupt_image", "shard-001.tar:004": "missing_image", "shard-001.tar:005": "bad_record"}
    assert (good[0].task, good[0].target, good[0].image.shape) == ("caption", "A red square.", (8, 12, 3))
    assert (good[1].task, good[1].prompt, good[1].target, good[1].family) == ("vqa", "what color?", "red", "attribute")
    with pytest.raises(TypeError, match="no random access"):
        ds[0]
    with pytest.raises(TypeError, match="n=N"):
        len(ds)
    assert len(open_dataset(f"wds:{pattern}?n=6")) == 6
    # DDP: rank 1 of 2 reads the second shard only.
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert {i.meta["shard"] for i in ds if isinstance(i, Sample)} == {str(tmp_path / "shard-001.tar")}
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match="2 shards cannot feed 3 ranks"):
        list(ds)


def test_wds_split_over_dataloader_workers(tmp_path):
    from torch.utils.data import DataLoader

    ds = open_dataset(f"wds:{build_wds(tmp_path)}")
    # Each worker reads its own shard; a collate that tallies keeps BadRecords in the worker.
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=_tally)
    keys = sorted(k for batch in loader for k in batch)
    assert keys == ["000", "001", "002!", "003", "004!", "005!"]
    with pytest.raises(FileNotFoundError, match="1 of 2 shards not found"):
        open_dataset(f"wds:{tmp_path}/shard-{{001..002}}.tar")


def _tally(batch):
    return [item.id if isinstance(item, Sample) else item.source.split(":")[1] + "!" for item in batch]


def test_unparsable_and_wrong_schema_fail_at_open(tmp_path):
    build_gqa(tmp_path)
    write(tmp_path / "cut_questions.json", (tmp_path / "val_balanced_questions.json").read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cut_questions.json: not valid JSON at line 1, column \d+"):
        open_dataset(f"gqa:{tmp_path}:cut")
    write(tmp_path / "list_questions.json", json.dumps([1, 2]).encode())
    with pytest.raises(ValueError, match="list_questions.json: top level must be a JSON object"):
        open_dataset(f"gqa:{tmp_path}:list")
    write(tmp_path / "snli_ve_dev.jsonl", b'{"pairID": "1"}\n{"Flickr30K_ID": \n')
    with pytest.raises(ValueError, match="snli_ve_dev.jsonl, line 2"):
        open_dataset(f"snli-ve:{tmp_path}:dev")
    write(tmp_path / "dataset_coco.json", json.dumps({"imgs": []}).encode())
    with pytest.raises(ValueError, match="dataset_coco.json: missing top-level key 'images'"):
        open_dataset(f"coco-captions:{tmp_path}:val")


def test_synth_exports_vqa2_layout_that_reads_back(tmp_path, capsys):
    from jarvl.cli.main import main
    from jarvl.data.synthetic import SyntheticDataset

    assert main(["data", "synth", "--format", "vqa2", "--split", "val", "--n", "4", "--out", str(tmp_path)]) == 0
    ds = open_dataset(f"vqa2:{tmp_path}:val2014")
    original = SyntheticDataset("vqa", "val", 4)
    for i in range(4):
        s, o = ds[i], original[i]
        assert (s.prompt, s.target, s.answers, s.meta["question_type"]) == (o.prompt, o.target, [o.target] * 10, o.family)
        assert s.family in ("yes/no", "number", "other") and s.image.shape == o.image.shape
        assert np.abs(s.image.astype(int) - o.image).mean() < 8  # JPEG, quality 95
    assert main(["data", "synth", "--format", "vqa2", "--n", "2", "--vqa-split", "mytrain", "--out", str(tmp_path)]) == 0
    assert len(open_dataset(f"vqa2:{tmp_path}:mytrain")) == 2
    assert main(["data", "synth", "--format", "vqa2", "--split", "val", "--n", "2", "--out", str(tmp_path)]) == 2
    assert main(["data", "synth", "--vqa-split", "x", "--n", "2", "--out", str(tmp_path / "j")]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--vqa-split applies to --format vqa2 only" in err
