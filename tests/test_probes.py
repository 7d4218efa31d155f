"""The probe diagnostic (benchmarks/probes.py): the probe reads what is linear and nothing else."""

from __future__ import annotations

import torch

from benchmarks import probes
from jarvl.data.synthetic.dataset import SyntheticDataset


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


def test_where_probe_finds_a_read_out_position_and_not_noise():
    from jarvl.blocks.layers import grid_positions

    g = torch.Generator().manual_seed(0)
    heads, cells = 2, 16
    pos = grid_positions(cells)
    phrases = torch.full((40, 6, cells), -1.0)
    cell = torch.randint(0, cells, (40, 2), generator=g)
    for b in range(40):  # words 1-2 name one object, word 4 another; the rest no target
        for words, c in ((slice(1, 3), cell[b, 0]), (slice(4, 5), cell[b, 1])):
            phrases[b, words] = 0.0
            phrases[b, words, c] = 1.0
    reads = torch.randn(40, 6, heads * 4, generator=g)  # best, count, x, y per head
    target = torch.zeros(40, 6, 2)
    target[:, 1:3], target[:, 4] = pos[cell[:, 0]][:, None], pos[cell[:, 1]]
    reads[..., 2 * heads + 0] = target[..., 0] + 0.05 * torch.randn(40, 6, generator=g)  # head 0 reads x
    reads[..., 3 * heads + 1] = target[..., 1]  # head 1 reads y exactly
    r = probes.where_correlations(reads, phrases, heads)
    assert r["x"][0] > 0.95 and abs(r["x"][1]) < 0.4
    assert abs(r["y"][1] - 1.0) < 1e-4 and abs(r["y"][0]) < 0.4
