"""Training on WebDataset shards (a stream without random access): endless, split over ranks, resumable."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile

import pytest
import torch
from fixtures import noisy_bytes
from PIL import Image

from jarvl.data.collate import Collator
from jarvl.data.readers.wds import WdsDataset
from jarvl.data.synthetic import SyntheticDataset
from jarvl.data.tokenizer import train_tokenizer
from jarvl.train.batches import build_train_batches


def write_shards(root, sizes=(8, 8), bad: str | None = "0010003") -> str:
    """Shards of synthetic VQA samples (jpg + json); ``bad`` (a member key) gets a truncated JPEG."""
    samples = iter(SyntheticDataset("vqa", "train", sum(sizes), seed=0))
    root.mkdir(parents=True, exist_ok=True)
    for shard, size in enumerate(sizes):
        with tarfile.open(root / f"shard-{shard:03d}.tar", "w") as tar:
            for k in range(size):
                s = next(samples)
                buf = io.BytesIO()
                Image.fromarray(s.image).save(buf, format="JPEG")
                key = f"{shard:03d}{k:04d}"
                jpg = noisy_bytes()[:300] if key == bad else buf.getvalue()
                meta = {"prompt": s.prompt, "target": s.target, "task": s.task, "family": s.family, "id": f"s{shard}-{k}"}
                for name, data in ((f"{key}.jpg", jpg), (f"{key}.json", json.dumps(meta).encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return str(root / (f"shard-{{000..{len(sizes) - 1:03d}}}.tar"))


@pytest.mark.slow
def test_train_on_shards_repeats_the_stream(tmp_path):
    pattern = write_shards(tmp_path / "shards")
    # 4 steps x 8 = 32 records = two passes over 16 (one corrupt): two workers, one shard each. One
    # record in 16 is bad (6%): past the default 1% limit, which a small set now meets at once.
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "jarvl.cli.main",
            "train",
            "--out",
            str(tmp_path / "run"),
            "--model",
            "tiny",
            "--train",
            f"wds:{pattern}",
            "--max-steps",
            "4",
            "--batch-size",
            "8",
            "--quiet",
            "--set",
            "data.val=",
            "--set",
            "data.num_workers=2",
            "--set",
            "data.tokenizer_samples=16",
            "--set",
            "data.max_bad_fraction=0.1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["samples"] == 30
    assert summary["skips"]["seen"] == 32 and summary["skips"]["by_reason"] == {"corrupt_image": 2}
    assert "shard-001.tar:0010003" in summary["skips"]["examples"]["corrupt_image"][0]


@pytest.fixture(scope="module")
def collate():
    texts = [t for s in SyntheticDataset("vqa", "train", 64, seed=0) for t in (s.prompt, s.target)]
    return Collator(train_tokenizer(texts, vocab_size=200), 32, 16, 8)


def batches(pattern: str, collate, start_step: int, steps: int, **kwargs) -> list:
    got = build_train_batches(
        WdsDataset(pattern), collate, batch_size=kwargs.pop("batch_size", 4), seed=0, start_step=start_step, steps=steps, **kwargs
    )
    assert got.streamed
    return list(got)


def same(a, b) -> bool:
    return ([s.id for s in a.samples], a.skipped, a.seen) == ([s.id for s in b.samples], b.skipped, b.seen) and torch.equal(
        a.images, b.images
    )


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_skips_to_the_same_batches(tmp_path, collate, workers):
    pattern = write_shards(tmp_path)
    full = batches(pattern, collate, 0, 7, num_workers=workers)  # 28 items: wraps around the 16-item stream
    assert sum(b.seen for b in full) == 28 and all(len(b) + len(b.skipped) == 4 for b in full)
    for start in (2, 3):  # with 2 workers: a whole round skipped, and a round and a half
        resumed = batches(pattern, collate, start, 7 - start, num_workers=workers)
        assert len(resumed) == 7 - start and all(same(a, b) for a, b in zip(full[start:], resumed))


def test_ranks_step_together_on_unequal_shards(tmp_path, collate, monkeypatch):
    # Rank 0 reads a 9-sample shard, rank 1 a 3-sample one: both yield every step (no DDP hang).
    pattern = write_shards(tmp_path, sizes=(9, 3), bad=None)
    monkeypatch.setenv("WORLD_SIZE", "2")
    ids = {}
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        got = batches(pattern, collate, 0, 5, batch_size=4, rank=rank, world=2)
        assert len(got) == 5 and all(len(b) == 2 for b in got)
        ids[rank] = [s.id for b in got for s in b.samples]
    assert set(ids[0]) == {f"s0-{k}" for k in range(9)} and ids[1] == [f"s1-{k % 3}" for k in range(10)]


@pytest.mark.slow
def test_torchrun_ranks_with_unequal_shards_finish(tmp_path):
    # Rank 1's shard holds 3 samples, rank 0's 9: the repeated streams keep both stepping to the end.
    pattern = write_shards(tmp_path / "shards", sizes=(9, 3), bad=None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29518",
        "-m",
        "jarvl.cli.main",
        "train",
        "--out",
        str(tmp_path / "run"),
        "--model",
        "tiny",
        "--train",
        f"wds:{pattern}",
        "--max-steps",
        "5",
        "--batch-size",
        "8",
        "--quiet",
        "--set",
        "data.val=",
        "--set",
        "data.num_workers=0",
        "--set",
        "run.threads=1",
        "--set",
        "data.tokenizer_samples=12",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 5 and summary["samples"] == 40  # 5 steps x 8 samples over both ranks
