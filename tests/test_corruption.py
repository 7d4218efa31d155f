"""A VQA v2 dataset with one record of each kind of damage: skipped and counted exactly, valid ones kept."""

from __future__ import annotations

import pytest
from fixtures import image_bytes, noisy_bytes, vqa_annotation, vqa_image_path, write, write_vqa2_json

from jarvl.data.bad_records import BadRecord, SkipStats
from jarvl.data.registry import open_dataset

SPLIT = "val2014"
GOOD = ["is it red?", "how many cats?", "what is this?"]
# question id -> (question field(s), image kind, expected reason or None when kept)
DAMAGE = {
    11: ({"question": "where is it?"}, "missing", "missing_image"),
    12: ({"question": "what color?"}, "truncated", "corrupt_image"),
    13: ({"question": "is it big?"}, "zero", "empty_image"),
    14: ({}, "ok", "bad_record"),  # no "question" field
    15: ({"question": 42}, "ok", "bad_record"),  # wrong type
    16: ({"question": " \t\u200b "}, "ok", "empty_text"),  # only blanks and a zero-width space
    17: ({"question": "why " * 1000}, "ok", "text_too_long"),
    18: ({"question": "@@LATIN1@@"}, "ok", None),  # non-UTF-8 bytes: kept, replaced by U+FFFD
    19: ({"question": "\uff37hat\u00a0is\u0007 the cafe\u0301 \ud800?"}, "ok", None),  # odd Unicode: kept, cleaned
    20: ({"question": "no annotation?"}, "ok", "bad_record"),  # annotation missing
}
EXPECTED_TEXT = {18: "caf\ufffd menu?", 19: "What is the caf\u00e9 \ufffd?"}


def build(root) -> None:
    """GOOD questions (ids 1..3) plus DAMAGE, in the VQA v2 layout."""
    questions, annotations = [], []
    records = [(i + 1, {"question": q}, "ok") for i, q in enumerate(GOOD)] + [(qid, f, kind) for qid, (f, kind, _) in DAMAGE.items()]
    for qid, fields, kind in records:
        image_id = qid
        path = vqa_image_path(root, SPLIT, image_id)
        if kind == "ok":
            write(path, image_bytes())
        elif kind == "truncated":
            write(path, noisy_bytes()[:400])
        elif kind == "zero":
            write(path, b"")
        questions.append({"image_id": image_id, "question_id": qid, **fields})
        if qid != 20:
            annotations.append(vqa_annotation(qid, image_id, ["yes"] * 10, "yes/no", "is it"))
    write_vqa2_json(root, SPLIT, questions, annotations, raw={"@@LATIN1@@": b"caf\xe9 menu?"})


def iterate(dataset) -> tuple[list, SkipStats]:
    """Read every record as the trainer's loader does: BadRecord is skipped and counted."""
    kept, stats = [], SkipStats()
    for i in range(len(dataset)):
        stats.seen += 1
        try:
            kept.append(dataset[i])
        except BadRecord as bad:
            stats.add(bad.reason, bad.source)
    return kept, stats


def test_each_damage_is_counted_and_valid_records_kept(tmp_path):
    build(tmp_path)
    kept, stats = iterate(open_dataset(f"vqa2:{tmp_path}:{SPLIT}"))
    expected = {}
    for _, _, reason in DAMAGE.values():
        if reason:
            expected[reason] = expected.get(reason, 0) + 1
    assert dict(stats.counts) == expected
    assert stats.seen == len(GOOD) + len(DAMAGE) and stats.skipped == sum(expected.values())
    assert [s.prompt for s in kept[:3]] == GOOD
    assert {int(s.id): s.prompt for s in kept[3:]} == EXPECTED_TEXT
    assert all(s.image is not None and s.target == "yes" for s in kept)
    assert stats.examples["missing_image"] == ["11"]  # sources are the records' ids
    assert stats.examples["bad_record"] == ["14", "15", "20"]


def test_question_file_cut_short_fails_at_open(tmp_path):
    build(tmp_path)
    path = tmp_path / f"v2_OpenEnded_mscoco_{SPLIT}_questions.json"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match=rf"{path.name}: not valid JSON at line 1, column \d+ .*cut short"):
        open_dataset(f"vqa2:{tmp_path}:{SPLIT}")


def test_wrong_top_level_key_fails_at_open(tmp_path):
    write(tmp_path / f"v2_OpenEnded_mscoco_{SPLIT}_questions.json", b'{"qs": []}')
    with pytest.raises(ValueError, match=r"questions.json: missing top-level key 'questions' \(found: 'qs'\)"):
        open_dataset(f"vqa2:{tmp_path}:{SPLIT}")


def test_jsonl_dataset_raises_bad_record(tmp_path):
    from jarvl.data.readers.jsonl import JsonlDataset

    index = tmp_path / "index.jsonl"
    index.write_text('{"image": "gone.png", "prompt": "p", "target": "t", "task": "vqa", "id": "q7"}\n')
    with pytest.raises(BadRecord, match="missing_image: q7"):
        JsonlDataset(index)[0]


def test_damaged_shard_is_one_bad_record(tmp_path):
    write(tmp_path / "bad.tar", b"not a tar file" * 100)
    items = list(open_dataset(f"wds:{tmp_path / 'bad.tar'}"))
    assert len(items) == 1 and isinstance(items[0], BadRecord) and items[0].reason == "corrupt_shard"


def test_bad_record_survives_pickling():
    # DataLoader workers pickle what they return; a BadRecord must arrive intact.
    import pickle

    from jarvl.data.bad_records import BadRecord

    bad = pickle.loads(pickle.dumps(BadRecord("corrupt_image", "x.jpg", "truncated")))
    assert (bad.reason, bad.source, bad.detail) == ("corrupt_image", "x.jpg", "truncated")


def test_bad_record_limit_is_proportionate_for_small_sets():
    from jarvl.data.bad_records import SkipStats, TooManyBadRecords

    def stats(seen: int, bad: int) -> SkipStats:
        s = SkipStats()
        s.merge(seen, [("empty_text", f"r{i}") for i in range(bad)])
        return s

    # Below min_seen=100 the share is judged against 100: one bad record is tolerated (as in 100) ...
    stats(10, 1).check(0.01)
    # ... a second already means > 1% of the first 100, whatever follows; 5 bad of 50 stop at once.
    for seen, bad in ((10, 2), (50, 5), (99, 2)):
        with pytest.raises(TooManyBadRecords, match=rf"{bad} of {seen} records were bad"):
            stats(seen, bad).check(0.01)
    stats(1000, 10).check(0.01)  # from 100 on: the plain share (10 of 1000 = 1%: allowed)
    with pytest.raises(TooManyBadRecords):
        stats(1000, 11).check(0.01)
    stats(40, 10).check(0.5)  # a generous limit stays generous on a small set
