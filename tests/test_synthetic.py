"""The synthetic dataset: determinism, splits, exact answers, balance, weak language prior, CLI."""

from __future__ import annotations

import collections
import hashlib

import numpy as np
import pytest

from jarvl.cli.main import main
from jarvl.config import from_dict, to_dict
from jarvl.data.readers.jsonl import JsonlDataset
from jarvl.data.synthetic import FAMILIES, Obj, Scene, SynthConfig, SyntheticDataset, render_scene
from jarvl.data.synthetic.caption import caption_text
from jarvl.data.synthetic.config import COLORS, CONDITIONS
from jarvl.data.synthetic.oracle import answer_question, entailment_label
from jarvl.data.synthetic.scene import fits

TASKS = ("vqa", "caption", "entailment")


@pytest.fixture(scope="module")
def vqa_train():
    ds = SyntheticDataset("vqa", "train", 5000, seed=0)
    return [ds.item(i) for i in range(len(ds))]


def test_config_rejects_bad_values_with_a_suggestion():
    with pytest.raises(ValueError, match="did you mean 'count'"):
        SynthConfig(families=("counts",))
    with pytest.raises(ValueError, match="did you mean 'max_objects'"):
        from_dict(SynthConfig, {"max_object": 4})
    with pytest.raises(ValueError, match="min_objects"):
        SynthConfig(min_objects=5, max_objects=4)
    with pytest.raises(ValueError, match="did you mean 'test'"):
        SyntheticDataset("vqa", "tests")
    cfg = SynthConfig(max_objects=4, families=("count", "exists"))
    assert from_dict(SynthConfig, to_dict(cfg)) == cfg


@pytest.mark.parametrize("task", TASKS)
def test_samples_follow_the_schema_and_are_deterministic(task):
    cfg = SynthConfig(min_objects=2, max_objects=4, image_size=48)
    a, b = SyntheticDataset(task, "val", 20, 3, cfg), SyntheticDataset(task, "val", 20, 3, cfg)
    for i in (0, 7, 19, -1):
        sa, sb = a[i], b[i]
        assert sa.image.shape == (48, 48, 3) and sa.image.dtype == np.uint8
        assert np.array_equal(sa.image, sb.image)
        assert (sa.prompt, sa.target, sa.family, sa.id) == (sb.prompt, sb.target, sb.family, sb.id)
        assert sa.task == task and sa.target and sa.answers == [sa.target]
        assert 2 <= len(sa.meta["objects"]) <= 4
    other_seed = SyntheticDataset(task, "val", 20, 4, cfg)
    assert [a[i].target for i in range(20)] != [other_seed[i].target for i in range(20)]
    with pytest.raises(IndexError):
        a[20]


@pytest.mark.parametrize("task", TASKS)
def test_splits_are_disjoint(task):
    def keys(split):
        ds = SyntheticDataset(task, split, 150, seed=0)
        return {(hashlib.sha1(s.image.tobytes()).hexdigest(), s.prompt) for s in ds}

    train, val, test = keys("train"), keys("val"), keys("test")
    assert len(train) == 150 and not (train & val) and not (train & test) and not (val & test)


def test_comp_split_holds_combinations_never_seen_in_training():
    def combos(split):
        ds = SyntheticDataset("caption", split, 300, seed=0)
        objs = [o for i in range(len(ds)) for o in ds.item(i).scene.objects]
        return {(o.shape, o.color) for o in objs if o.shape != "circle"}

    train, comp = combos("train"), combos("comp")
    assert train <= {(s, c) for s, cs in CONDITIONS["A"].items() for c in cs}
    assert len(comp) == 8 and not (train & comp)


def test_hand_built_scene_has_the_right_answers():
    scene = Scene(
        (
            Obj("circle", "red", "large", 12, 20),
            Obj("square", "blue", "small", 32, 20),
            Obj("square", "red", "small", 52, 20),
            Obj("triangle", "purple", "large", 32, 48),
        ),
        64,
        "A",
    )
    assert fits(scene.objects, 64)
    expected = {
        "how many red objects are there?": "2",
        "how many large objects are there?": "2",
        "how many purple squares are there?": "0",
        "is there a blue square?": "yes",
        "is there a blue triangle?": "no",
        "what color is the triangle?": "purple",
        "what shape is the blue object?": "square",
        "what size is the blue square?": "small",
        "what color is the square?": None,  # two squares: not a unique reference
        "is the red circle left of the blue square?": "yes",
        "is the red square left of the blue square?": "no",
        "is the purple triangle below the blue square?": "yes",
        "is the blue square left of the purple triangle?": None,  # same x: too close to call
        "what color is the object left of the blue square?": "red",
        "what shape is the object right of the red circle?": None,  # three candidates
        "what color is the object below the blue square?": "purple",
        "what shape is the object nearest to the purple triangle?": "square",
        "are there more squares than circles?": "yes",
        "are there fewer red objects than blue objects?": "no",
        "are there as many circles as triangles?": "yes",
        "is the red circle the same size as the purple triangle?": "yes",
        "is the blue square the same color as the red circle?": "no",
    }
    for question, answer in expected.items():
        assert answer_question(scene, question) == answer, question
    statements = {
        "there are two red objects.": "entailment",
        "there is one square.": "contradiction",
        "there are no green objects.": "entailment",
        "the blue object is a circle.": "contradiction",
        "the triangle is large.": "entailment",
        "the red circle is left of the blue square.": "entailment",
        "there is a red circle made of wood.": "neutral",
        "there is a green circle made of wood.": "contradiction",
    }
    for statement, label in statements.items():
        assert entailment_label(scene, statement) == label, statement
    assert caption_text(scene.objects) == ("a large red circle, a small blue square, a large purple triangle and a small red square.")
    image = render_scene(scene)
    for o in scene.objects:
        assert tuple(image[o.y, o.x]) == COLORS[o.color]
    assert tuple(image[0, 0]) not in COLORS.values()


@pytest.mark.parametrize("split", ("train", "comp"))
@pytest.mark.parametrize("task", TASKS)
def test_generated_targets_agree_with_the_reference_semantics(task, split):
    ds = SyntheticDataset(task, split, 300, seed=5)
    for i in range(len(ds)):
        it = ds.item(i)
        assert fits(it.scene.objects, it.scene.image_size)
        if task == "vqa":
            assert answer_question(it.scene, it.prompt) == it.target, it.prompt
        elif task == "entailment":
            assert entailment_label(it.scene, it.prompt) == it.target, it.prompt
        else:
            assert it.target == caption_text(it.scene.objects)


def test_answers_are_balanced_within_each_family(vqa_train):
    answers = collections.defaultdict(collections.Counter)
    for it in vqa_train[:2000]:
        answers[it.family][it.target] += 1
    assert set(answers) == set(FAMILIES)
    for family, counts in answers.items():
        share = {a: n / sum(counts.values()) for a, n in counts.items()}
        if family in ("exists", "compare"):
            assert set(share) == {"yes", "no"} and 0.42 < share["yes"] < 0.58, share
        elif family == "count":
            assert set(share) == {str(k) for k in range(7)}, share
            assert all(0.09 < s < 0.2 for s in share.values()), share
        else:
            assert max(share.values()) < 0.35, (family, share)
    labels = collections.Counter(SyntheticDataset("entailment", "train", 900).item(i).target for i in range(900))
    assert all(0.28 < n / 900 < 0.39 for n in labels.values()), labels


def test_entailment_draws_plain_claims_from_the_configured_families_only():
    cfg = SynthConfig(min_objects=1, max_objects=2, families=("attribute",))
    items = [SyntheticDataset("entailment", "train", 300, config=cfg).item(i) for i in range(300)]
    kinds = collections.Counter(it.family for it in items)
    assert set(kinds) == {"attribute", "material"}, kinds
    labels = collections.Counter(it.target for it in items)
    assert all(0.25 < n / 300 < 0.42 for n in labels.values()), labels
    for it in items:  # the labels still follow the reference semantics
        assert entailment_label(it.scene, it.prompt) == it.target, it.prompt
    everything = collections.Counter(SyntheticDataset("entailment", "train", 600).item(i).family for i in range(600))
    assert {"exists", "count", "attribute", "spatial", "compare_count", "compare_attribute", "material"} == set(everything)


def test_language_prior_is_weak(vqa_train):
    # Guess the majority training answer of the exact question text (family majority if unseen).
    by_question = collections.defaultdict(collections.Counter)
    by_family = collections.defaultdict(collections.Counter)
    for it in vqa_train:
        by_question[it.prompt][it.target] += 1
        by_family[it.family][it.target] += 1
    val = SyntheticDataset("vqa", "val", 1000, seed=0)
    hits, total = collections.Counter(), collections.Counter()
    for i in range(len(val)):
        it = val.item(i)
        guesses = by_question.get(it.prompt) or by_family[it.family]
        hits[it.family] += guesses.most_common(1)[0][0] == it.target
        total[it.family] += 1
    prior = {f: hits[f] / total[f] for f in total}
    assert all(p <= 0.6 for p in prior.values()), prior


def test_cli_writes_the_synthetic_dataset(tmp_path, capsys):
    out = tmp_path / "synth"
    args = [
        "data",
        "synth",
        "--out",
        str(out),
        "--n",
        "12",
        "--split",
        "comp",
        "--seed",
        "2",
        "--min-objects",
        "2",
        "--max-objects",
        "3",
        "--image-size",
        "32",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "wrote 12 vqa samples" in printed and "per family:" in printed
    ds = JsonlDataset(out)
    assert len(ds) == 12 and ds[0].image.shape == (32, 32, 3)
    expected = SyntheticDataset("vqa", "comp", 12, 2, SynthConfig(2, 3, 32))[5]
    assert (ds[5].prompt, ds[5].target) == (expected.prompt, expected.target)
    assert np.array_equal(ds[5].image, expected.image)
    assert main(args) == 2  # refuses to overwrite without --overwrite
