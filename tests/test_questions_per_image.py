"""Several questions per image in training: the synthetic groups, the group-keeping batch sampler,
the collator that puts each shared image in a batch once, and a training run on them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from jarvl.data.collate import Collator, GridTargets
from jarvl.data.loader import ResumableBatchSampler
from jarvl.data.registry import open_dataset
from jarvl.data.schema import Sample
from jarvl.data.synthetic import SyntheticDataset
from jarvl.data.synthetic.config import COLORS, SHAPES, SIZES
from jarvl.data.synthetic.oracle import answer_question
from jarvl.data.tokenizer import Tokenizer, train_tokenizer


def test_a_group_shares_one_scene_and_every_answer_is_true_of_it():
    k = 4
    grouped = SyntheticDataset("vqa", "train", 40, seed=3, questions_per_image=k)
    single = SyntheticDataset("vqa", "train", 40, seed=3)
    for g in range(10):
        first = grouped.item(g * k)
        assert (first.prompt, first.target) == (single.item(g).prompt, single.item(g).target)  # item g as with K = 1
        samples = [grouped[g * k + j] for j in range(k)]
        assert len({s.image_id for s in samples}) == 1 and samples[0].image_id.endswith(f"scene{g}")
        assert all(np.array_equal(s.image, samples[0].image) for s in samples)
        for j in range(k):
            it = grouped.item(g * k + j)
            assert it.scene == first.scene
            assert answer_question(it.scene, it.prompt) == it.target  # the reference semantics agree
            assert samples[j].meta["objects"] == samples[0].meta["objects"]
    assert grouped[0].image_id != grouped[k].image_id
    assert single[0].image_id == ""  # K = 1: nothing to share
    # deterministic: a fresh dataset draws the same follow-ups
    again = SyntheticDataset("vqa", "train", 40, seed=3, questions_per_image=k)
    assert [again.item(i).prompt for i in range(40)] == [grouped.item(i).prompt for i in range(40)]


def test_follow_up_answers_stay_close_to_the_generators_mix():
    ds = SyntheticDataset("vqa", "train", 2000, questions_per_image=4)
    follow = [ds.item(i) for i in range(2000) if i % 4]
    families = {f: sum(it.family == f for it in follow) / len(follow) for f in ("attribute", "exists", "count", "spatial", "compare")}
    assert all(0.14 < share < 0.26 for share in families.values()), families
    for family in ("exists", "compare"):  # yes/no drawn first: not the ~17% "yes" of a random question on a random scene
        answers = [it.target for it in follow if it.family == family]
        assert 0.4 < answers.count("yes") / len(answers) < 0.6, family
    counts = {it.target for it in follow if it.family == "count"}
    assert {"0", "1", "2", "3", "4"} <= counts


def test_questions_per_image_is_checked_and_reachable_from_a_spec():
    with pytest.raises(ValueError, match="questions_per_image"):
        SyntheticDataset("caption", "train", 8, questions_per_image=2)
    with pytest.raises(ValueError, match="questions_per_image"):
        SyntheticDataset("vqa", "train", 8, questions_per_image=0)
    ds = open_dataset("synthetic:vqa:train?n=12&questions_per_image=3")
    assert ds.group_size == 3 and ds[0].image_id == ds[2].image_id != ds[3].image_id


def test_the_batch_sampler_keeps_groups_whole_and_covers_every_index():
    sampler = ResumableBatchSampler(22, 8, seed=5, group=4, steps=6)
    batches = list(sampler)
    epoch = [i for b in batches for i in b][:22]
    assert sorted(epoch) == list(range(22))  # a permutation of all 22, the short last group included
    p = 0
    while p < len(epoch):  # the epoch is whole groups one after another: 4g, 4g + 1, ..., the last (20, 21) short
        start = epoch[p]
        size = min(4, 22 - start)
        assert start % 4 == 0 and epoch[p : p + size] == list(range(start, start + size)), epoch
        p += size
    resumed = list(ResumableBatchSampler(22, 8, seed=5, group=4, start_step=3, steps=3))
    assert resumed == batches[3:]
    with pytest.raises(ValueError, match="group"):
        ResumableBatchSampler(8, 4, seed=0, group=0)


def _tokenizer() -> Tokenizer:
    return train_tokenizer(["what color is it ?", "is it red blue ?", "yes no"], vocab_size=64)


def _samples():
    img = lambda v: np.full((16, 16, 3), v, dtype=np.uint8)  # noqa: E731
    obj = [{"shape": "circle", "color": "red", "size": "small", "x": 2, "y": 2}]
    return [
        Sample("what color is it?", "red", "vqa", image=img(10), image_id="a", meta={"objects": obj}),
        Sample("what color?", "blue", "vqa", image=img(99), image_id="b"),
        Sample("is it red?", "yes", "vqa", image=img(10), image_id="a", meta={"objects": obj}),
        Sample("is it blue?", "no", "vqa", image=img(50), image_path="/x/c.png"),
        Sample("is it?", "no", "vqa", image=img(50), image_path="/x/c.png"),
    ]


def test_a_sharing_collator_puts_each_image_in_once():
    tok = _tokenizer()
    grid = GridTargets({"color": tuple(COLORS), "shape": SHAPES, "size": SIZES}, 2)
    share = Collator(tok, 16, 8, 4, grid_targets=grid, share_images=True)
    plain = Collator(tok, 16, 8, 4, grid_targets=grid)
    b, p = share(_samples()), plain(_samples())
    assert len(b) == 5 and b.images.shape[0] == 3 and b.image_index.tolist() == [0, 1, 0, 2, 2]
    assert_close(b.images[b.image_index], p.images)
    assert_close(b.grid_targets[b.image_index], p.grid_targets)
    assert torch.equal(b.text_ids, p.text_ids) and p.image_index is None and len(p) == 5
    # a part keeps only the images its texts use, re-indexed
    images, ids, _, targets, index, grids = b.part(slice(2, 5))
    assert images.shape[0] == 2 and index.tolist() == [0, 1, 1] and grids.shape[0] == 2
    assert_close(images[index], p.images[2:5])
    assert torch.equal(ids, p.text_ids[2:5]) and torch.equal(targets, p.targets[2:5])
    # nothing shared: no index at all
    distinct = share([s for s in _samples()[:2]])
    assert distinct.image_index is None


def test_training_on_four_questions_per_image_with_accumulation(tmp_path):
    from jarvl.train.config import build_experiment
    from jarvl.train.trainer import Trainer

    seen: list[tuple[int, int]] = []
    cfg = build_experiment(
        {
            "model": {"preset": "tiny", "grounding": {"weight": 1.0, "labels": {"color": list(COLORS)}}},
            "data": {
                "train": ["synthetic:vqa:train?n=256&questions_per_image=4"],
                "val": ["synthetic:vqa:val?n=16&questions_per_image=4"],
                "batch_size": 16,
                "num_workers": 0,
            },
        },
        ["run.max_steps=3", "run.eval_every=3", "run.eval_samples=16", "run.progress=false", "optim.accumulation=2"],
    )
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.batch_hooks.append(lambda batch: seen.append((len(batch), batch.images.shape[0])))
    trainer.fit()
    assert seen == [(16, 4)] * 3  # 16 questions on 4 images per step
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any(x["kind"] == "eval" for x in lines)
