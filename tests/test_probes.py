"""The probe diagnostic (benchmarks/probes.py): the probe reads what is linear and nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import probes  # noqa: E402

from jarvl.data.synthetic.dataset import SyntheticDataset  # noqa: E402


def test_probe_reads_a_linear_label_and_not_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 16, generator=g)
    linear = ["a" if v > 0 else "b" for v in (x[:, 3] - x[:, 7]).tolist()]
    acc, chance = probes.probe(x, linear, fit=400)
    assert acc > 0.95 and 0.3 < chance < 0.7
    noise = ["a" if v > 0 else "b" for v in torch.randn(600, generator=g).tolist()]
    acc, _ = probes.probe(x, noise, fit=400)
    assert acc < 0.65


def test_labels_name_the_question_words_and_the_scene():
    ds = SyntheticDataset("vqa", "test", 50, 0)
    for i in range(50):
        sample = ds[i]
        lab = probes.labels_of(ds, i, sample)
        assert lab["answer"] == sample.target
        first = min(ds.item(i).scene.objects, key=lambda o: (o.x, o.y))
        assert lab["scene_color"] == first.color and lab["scene_shape"] == first.shape
        for slot, values in probes.SLOTS.items():
            named = lab[f"question_{slot}"]
            assert named == "none" or named in values
            if named != "none":
                assert named in sample.prompt
