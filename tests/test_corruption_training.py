"""A real training run over a VQA v2 folder with every kind of damage: it never stops for one bad record.

The dataset holds exactly batch x steps records, so one run reads each once: ``summary.json``
must count every skip by reason exactly, name the offending files, and keep every valid record
(odd image modes, EXIF rotation, odd text included). With the default ``max_bad_fraction`` the
same data stops the run with a clear message; a cut-short questions file fails before training.
"""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import sys
import zlib
from collections import Counter

import numpy as np
import pytest
from fixtures import image_bytes, noisy_bytes, vqa_annotation, vqa_image_path, write, write_vqa2_json
from PIL import Image

pytestmark = pytest.mark.slow

SPLIT = "val2014"
BATCH, STEPS = 8, 4  # 32 records: one pass


def encoded(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that only claims its size: Pillow reads the size without decoding a pixel."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    return encoded(Image.new("RGB", (20, 10), (10, 200, 10)), "JPEG", exif=exif)


def palette() -> bytes:
    img = Image.new("P", (12, 8))
    img.putpalette([255, 0, 0, 0, 0, 255] * 128)
    return encoded(img, "PNG")


# question id -> (question fields, image bytes (None: no file), expected skip reason or None if kept).
# Files keep the VQA name COCO_val2014_*.jpg whatever their real format, as Pillow reads by content.
RECORDS = {
    1: ({"question": "where is it?"}, None, "missing_image"),
    2: ({"question": "what color?"}, noisy_bytes()[:400], "corrupt_image"),
    3: ({"question": "is it big?"}, b"", "empty_image"),
    4: ({"question": "how large?"}, png_header(9000, 9000), "image_too_large"),
    5: ({}, image_bytes(), "bad_record"),  # no "question" field
    6: ({"question": 42}, image_bytes(), "bad_record"),  # wrong type
    7: ({"question": " \t\u200b "}, image_bytes(), "empty_text"),  # blanks and a zero-width space
    8: ({"question": "why " * 1000}, image_bytes(), "text_too_long"),
    9: ({"question": "is it grey?"}, encoded(Image.new("L", (12, 8), 128), "JPEG"), None),
    10: ({"question": "is it a palette?"}, palette(), None),
    11: ({"question": "is it see-through?"}, encoded(Image.new("RGBA", (12, 8), (255, 0, 0, 100)), "PNG"), None),
    12: ({"question": "is it cmyk?"}, encoded(Image.new("CMYK", (12, 8), (0, 255, 0, 0)), "JPEG"), None),
    13: ({"question": "is it deep?"}, encoded(Image.fromarray(np.full((8, 12), 40000, dtype=np.uint16)), "PNG"), None),
    14: ({"question": "is it upright?"}, exif_rotated(), None),
    15: ({"question": "@@LATIN1@@"}, image_bytes(), None),  # non-UTF-8 byte: kept as U+FFFD
    16: ({"question": "\uff37hat\u00a0is\u0007 the cafe\u0301 \ud800?"}, image_bytes(), None),  # odd Unicode: cleaned
}
RECORDS.update(
    {
        qid: ({"question": f"is this square number {qid}?"}, image_bytes(color=(qid * 7, 50, 90)), None)
        for qid in range(17, BATCH * STEPS + 1)
    }
)
EXPECTED = Counter(reason for _, _, reason in RECORDS.values() if reason)
FILES_NAMED = ("missing_image", "corrupt_image", "empty_image", "image_too_large")


def build(root) -> None:
    questions, annotations = [], []
    for qid, (fields, data, _) in RECORDS.items():
        if data is not None:
            write(vqa_image_path(root, SPLIT, qid), data)
        questions.append({"image_id": qid, "question_id": qid, **fields})
        annotations.append(vqa_annotation(qid, qid, ["yes"] * 10, "yes/no", "is it"))
    write_vqa2_json(root, SPLIT, questions, annotations, raw={"@@LATIN1@@": b"caf\xe9 menu?"})


def train(root, out, *extra: str) -> subprocess.CompletedProcess:
    args = [
        "train",
        "--out",
        str(out),
        "--model",
        "tiny",
        "--train",
        f"vqa2:{root}:{SPLIT}",
        "--batch-size",
        str(BATCH),
        "--quiet",
        "--set",
        "data.val=",
        "--set",
        "data.num_workers=0",
        "--set",
        "data.tokenizer_samples=64",
        *extra,
    ]
    return subprocess.run([sys.executable, "-m", "jarvl.cli.main", *args], capture_output=True, text=True, timeout=300)


def test_training_skips_and_counts_each_damage_once(tmp_path):
    build(tmp_path / "data")
    out = train(tmp_path / "data", tmp_path / "run", "--max-steps", str(STEPS), "--set", "data.max_bad_fraction=0.9")
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    skips = summary["skips"]
    assert skips["by_reason"] == dict(EXPECTED)
    assert skips["seen"] == BATCH * STEPS and skips["skipped"] == sum(EXPECTED.values())
    assert summary["samples"] == BATCH * STEPS - sum(EXPECTED.values())  # every valid record trained on
    examples = skips["examples"]
    assert sorted(e.split(" ")[0] for e in examples["bad_record"]) == ["5", "6"]
    for qid, (_, _, reason) in RECORDS.items():
        if reason:
            assert any(e.startswith(f"{qid} (") for e in examples[reason]), (reason, examples[reason])
        if reason in FILES_NAMED:
            assert any(f"COCO_{SPLIT}_{qid:012d}.jpg" in e for e in examples[reason]), (reason, examples[reason])
    assert "text_too_long x1" in summary["skip_summary"]


def test_default_bad_fraction_aborts_with_reasons(tmp_path):
    build(tmp_path / "data")
    # Proportionate for a small set: the run stops as soon as the bad records seen exceed 1% of 100
    # (the share could not fall below the limit by record 100), long before 100 records are read.
    out = train(tmp_path / "data", tmp_path / "run", "--max-steps", "20")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "records were bad" in out.stderr and "data.max_bad_fraction" in out.stderr
    bad, seen = map(int, re.search(r"(\d+) of (\d+) records were bad", out.stderr).groups())
    assert seen < 100 and bad > 1
    assert any(reason in out.stderr for reason in EXPECTED)
    kinds = [json.loads(line)["kind"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert "abort" in kinds


def test_questions_file_cut_short_fails_at_start(tmp_path):
    build(tmp_path / "data")
    path = tmp_path / "data" / f"v2_OpenEnded_mscoco_{SPLIT}_questions.json"
    path.write_bytes(path.read_bytes()[:-40])
    out = train(tmp_path / "data", tmp_path / "run", "--max-steps", "2")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert path.name in out.stderr and "cut short" in out.stderr
    assert not (tmp_path / "run" / "summary.json").exists()
