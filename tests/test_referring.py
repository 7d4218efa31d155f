"""The referring objective (question grounding): which objects a synthetic question refers to, the
per-cell targets, the fusion's cell scores and the loss, config errors, and a training run with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_batch

from jarvl.data.collate import Collator, ReferentTargets
from jarvl.data.schema import Sample
from jarvl.data.synthetic.config import SynthConfig
from jarvl.data.synthetic.dataset import SyntheticDataset
from jarvl.data.synthetic.oracle import question_phrases, question_referents, statement_phrase_spans, statement_referents
from jarvl.data.synthetic.scene import Obj, Scene
from jarvl.models import get_preset
from jarvl.models.model import JARVLModel

SCENE = Scene(
    (
        Obj("circle", "red", "large", 10, 10),
        Obj("square", "red", "small", 50, 10),
        Obj("circle", "blue", "small", 30, 50),
    ),
    64,
    "A",
)


@pytest.mark.parametrize(
    "question, referents",
    [
        ("is there a red circle?", [0]),
        ("is there a green circle?", []),  # "no": nothing is referred to
        ("how many red objects are there?", [0, 1]),
        ("what color is the small circle?", [2]),
        ("what size is the red square?", [1]),
        ("is the large circle left of the red square?", [0, 1]),
        ("what shape is the object below the red square?", [1, 2]),
        ("are there more circles than squares?", [0, 1, 2]),
        ("are there as many blue objects as squares?", [1, 2]),
        ("is the red square the same size as the blue circle?", [1, 2]),
        ("what color is the circle?", None),  # not unique: ill-posed
    ],
)
def test_question_referents_name_the_objects_the_words_pick_out(question, referents):
    assert question_referents(SCENE, question) == referents


def test_every_generated_question_has_referents_that_agree_with_its_answer():
    ds = SyntheticDataset("vqa", "train", 400)
    families = set()
    for i in range(len(ds)):
        s = ds[i]
        refs, objects = s.meta["referents"], s.meta["objects"]
        assert refs is not None and all(0 <= r < len(objects) for r in refs), s.prompt
        families.add(s.family)
        if s.family == "exists":
            assert (len(refs) > 0) == (s.target == "yes"), s.prompt
        elif s.family == "count":
            assert len(refs) == int(s.target), s.prompt
        elif s.family == "attribute":
            assert len(refs) == 1 and s.target in objects[refs[0]].values(), s.prompt
    assert families == {"attribute", "compare", "count", "exists", "spatial"}
    assert "referents" not in SyntheticDataset("caption", "train", 2)[0].meta  # VQA only


def _sample(refs, prompt="q?", image_id=""):
    objects = [
        {"shape": "circle", "color": "red", "size": "small", "x": 9, "y": 60},
        {"shape": "square", "color": "red", "size": "large", "x": 63, "y": 0},
    ]
    meta = {"objects": objects} if refs is None else {"objects": objects, "referents": refs}
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    return Sample(prompt=prompt, target="a", task="vqa", image=image, image_id=image_id, meta=meta)


def test_referent_targets_mark_the_cells_of_the_referred_objects_per_text():
    targets = ReferentTargets(8)
    t = targets(_sample([1]), 64, 64)
    assert t.shape == (64,) and t[0 * 8 + 7] == 1 and t.sum() == 1
    assert targets(_sample([]), 64, 64).sum() == 0  # referred to nothing: every cell a negative
    assert (targets(_sample(None), 64, 64) == -1).all()  # no ground truth: no target
    # two questions about one image: one image row, one target row per question
    from jarvl.data.tokenizer import train_tokenizer

    tok = train_tokenizer(["q? a", "r? a"], vocab_size=40)
    collate = Collator(tok, 64, 8, 4, referent_targets=targets, share_images=True)
    batch = collate([_sample([0], "q?", "img"), _sample([1], "r?", "img")])
    assert batch.images.shape[0] == 1 and batch.referents.shape == (2, 64)
    assert batch.referents[0, 7 * 8 + 1] == 1 and batch.referents[1, 7] == 1 and batch.referents.sum() == 2


def _referring_cfg(weight=0.5):
    cfg = get_preset("tiny", "jar")
    cfg.fusion.image_context = cfg.fusion.text_context = "tokens"  # the demo's: the queries are the question's tokens
    cfg.referring.weight = weight
    return cfg


def test_the_loss_adds_the_weighted_referring_objective_from_the_first_cross_attention():
    torch.manual_seed(0)
    cfg = _referring_cfg(0.5)
    model = JARVLModel(cfg)
    images, ids, mask, targets = random_batch(cfg)
    refs = torch.zeros(2, 64)
    refs[0, 3] = refs[1, 10] = 1
    plain = model(images, ids, mask, targets)
    assert plain.fusion.referring is None and model.encode(images, ids, mask).referring is None  # no targets: not computed
    out = model(images, ids, mask, targets, referents=refs)
    assert plain.referring_loss is None and out.referring_loss > 0
    torch.testing.assert_close(out.loss, plain.loss + 0.5 * out.referring_loss)
    logits_out = out.fusion.referring
    assert logits_out.shape == (2, ids.shape[1], 64)
    # each cell's score is its best logit over the real question tokens (padding excluded), mean over heads
    fuse = model.fusion.fuse[0]
    image = model.image_proj(model.image_encoder(images))
    text = model.text_proj(model.text_encoder(ids, mask))
    q = fuse.attn.q(fuse.norm_t(text)).view(2, -1, fuse.attn.heads, 32).transpose(1, 2)
    k = fuse.attn.kv(fuse.norm_f(image))[..., :128].view(2, -1, fuse.attn.heads, 32).transpose(1, 2)
    logits = (q @ k.transpose(-2, -1) / 32**0.5).mean(1)
    torch.testing.assert_close(logits_out, logits)
    scores = torch.stack([logits[b, : int(mask[b].sum())].amax(0) for b in range(2)])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(scores + model.referring_bias, refs)
    torch.testing.assert_close(out.referring_loss, expected)
    out.loss.backward()
    assert fuse.attn.q.weight.grad.abs().sum() > 0 and model.referring_bias.grad is not None
    # rows without targets add nothing
    none = model(images, ids, mask, targets, referents=torch.full((2, 64), -1.0))
    assert none.referring_loss == 0
    torch.testing.assert_close(none.loss, plain.loss)


def test_referring_config_errors_name_the_key():
    cfg = get_preset("tiny", "concat")
    cfg.referring.weight = 1.0
    with pytest.raises(ValueError, match="referring.weight > 0 needs fusion.name=jar with fusion.image_context=tokens"):
        cfg.validate()
    cfg = _referring_cfg(-1.0)
    with pytest.raises(ValueError, match="referring.weight must be"):
        cfg.validate()


def test_training_with_referring_checkpoints_and_predicts(tmp_path):
    from jarvl.inference import Predictor
    from jarvl.train.config import build_experiment
    from jarvl.train.trainer import Trainer

    cfg = build_experiment(
        {
            "model": {"preset": "tiny", "fusion": {"image_context": "tokens"}, "referring": {"weight": 1.0}},
            "data": {"train": ["synthetic:vqa:train?n=64"], "val": ["synthetic:vqa:val?n=16"], "batch_size": 16, "num_workers": 0},
        },
        ["run.max_steps=3", "run.eval_every=3", "run.eval_samples=16", "run.progress=false"],
    )
    Trainer(cfg, tmp_path / "run").fit()
    pred = Predictor(tmp_path / "run")
    assert pred.model.referring_bias is not None and not pred.model.fusion.referring  # scores only when trained on
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    assert isinstance(pred.answer(image, "is there a red circle?"), str)


# --- phrases: the same logits per question word, each phrase's words with its own objects ---


@pytest.mark.parametrize(
    "question, phrases",
    [
        ("are there more circles than squares?", [("circles", [0, 2]), ("squares", [1])]),
        ("is the red square the same size as the blue circle?", [("red square", [1]), ("blue circle", [2])]),
        ("is the large circle left of the red square?", [("large circle", [0]), ("red square", [1])]),
        ("what shape is the object below the red square?", [("red square", [1])]),  # "object" follows from the image
        ("is there a green circle?", [("green circle", [])]),
        ("how many red objects are there?", [("red objects", [0, 1])]),
        ("are there as many blue objects as squares?", [("blue objects", [2]), ("squares", [1])]),
        ("what color is the circle?", None),
    ],
)
def test_question_phrases_give_each_noun_phrase_its_span_and_its_objects(question, phrases):
    got = question_phrases(SCENE, question)
    assert (None if got is None else [(question[a:b], found) for a, b, found in got]) == phrases


def test_every_generated_question_has_phrases_within_its_referents():
    ds = SyntheticDataset("vqa", "train", 300)
    for i in range(len(ds)):
        s = ds[i]
        phrases, refs = s.meta["phrases"], set(s.meta["referents"])
        assert phrases, s.prompt
        named = {j for _, _, found in phrases for j in found}
        assert named <= refs, s.prompt
        if s.family in ("exists", "count", "attribute") or s.prompt.startswith(("are there", "is the")):
            assert named == refs, s.prompt  # only "the object left of ..." refers beyond its phrases


def test_phrase_targets_mark_each_phrase_word_with_its_own_objects():
    from jarvl.data.collate import PhraseTargets
    from jarvl.data.tokenizer import train_tokenizer

    prompt = "are there more circles than squares?"
    tok = train_tokenizer([prompt, "a"], vocab_size=40)
    sample = _sample(None, prompt)
    sample.meta["phrases"] = [[15, 22, [0]], [28, 35, [1]]]  # "circles" -> object 0, "squares" -> object 1
    collate = Collator(tok, 64, 16, 4, phrase_targets=PhraseTargets(8))
    batch = collate([sample, _sample(None, "a")])
    words = tok.hf.encode(prompt, add_special_tokens=False).tokens  # are there more circles than squares ?
    assert batch.phrases.shape == (2, len(words), 64)
    first = batch.phrases[0]
    assert first[words.index("circles"), 7 * 8 + 1] == 1 and first[words.index("circles")].sum() == 1
    assert first[words.index("squares"), 7] == 1 and first[words.index("squares")].sum() == 1
    others = [i for i, w in enumerate(words) if w not in ("circles", "squares")]
    assert (first[others] == -1).all()  # words outside every phrase: no target
    assert (batch.phrases[1] == -1).all()  # no phrases, and padding: no target


def test_the_phrase_loss_trains_each_word_logit_against_its_cells():
    torch.manual_seed(0)
    cfg = _referring_cfg(0.0)
    cfg.referring.phrases = 2.0
    model = JARVLModel(cfg)
    images, ids, mask, targets = random_batch(cfg)
    phrases = torch.full((2, ids.shape[1], 64), -1.0)
    phrases[0, 1] = 0.0
    phrases[0, 1, 5] = 1.0  # word 1 of text 0 names the object in cell 5
    phrases[1, 2] = 0.0  # word 2 of text 1 names nothing in its image
    plain = model(images, ids, mask, targets)
    out = model(images, ids, mask, targets, referents=torch.ones(2, 64), phrases=phrases)
    assert out.referring_loss is None  # referring.weight 0: the cell objective is off
    logits = out.fusion.referring + model.referring_bias
    keep = phrases >= 0
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[keep], phrases[keep])
    torch.testing.assert_close(out.phrase_loss, expected)
    torch.testing.assert_close(out.loss, plain.loss + 2.0 * out.phrase_loss)
    with pytest.raises(ValueError, match="phrases must be float"):
        model(images, ids, mask, targets, phrases=phrases[:, :3])


def test_phrases_need_the_text_tokens_as_queries():
    cfg = _referring_cfg(0.0)
    cfg.referring.phrases = 1.0
    cfg.validate()
    cfg.fusion.text_context = "latents"
    with pytest.raises(ValueError, match="referring.phrases > 0 needs .*text_context=tokens"):
        cfg.validate()
    from jarvl.blocks.config import without_unfit_referring

    assert without_unfit_referring(cfg).validate().referring.phrases == 0.0


def test_training_with_phrases_runs_and_predicts(tmp_path):
    from jarvl.inference import Predictor
    from jarvl.train.config import build_experiment
    from jarvl.train.trainer import Trainer

    fusion = {"image_context": "tokens", "text_context": "tokens"}
    cfg = build_experiment(
        {
            "model": {"preset": "tiny", "fusion": fusion, "referring": {"weight": 1.0, "phrases": 1.0}},
            "data": {"train": ["synthetic:vqa:train?n=64"], "val": ["synthetic:vqa:val?n=16"], "batch_size": 16, "num_workers": 0},
        },
        ["run.max_steps=2", "run.eval_every=2", "run.eval_samples=16", "run.progress=false"],
    )
    Trainer(cfg, tmp_path / "run").fit()
    pred = Predictor(tmp_path / "run")
    assert isinstance(pred.answer(np.zeros((64, 64, 3), dtype=np.uint8), "are there more circles than squares?"), str)


def test_role_targets_sign_the_two_referent_phrases_of_a_prompt():
    from jarvl.models.model import role_targets

    phrases = torch.full((3, 8, 4), -1.0)
    phrases[0, 1:3] = torch.tensor([1.0, 0, 0, 0])  # "red circle"
    phrases[0, 5:7] = torch.tensor([0, 1.0, 0, 0])  # "blue square"
    phrases[1, 2] = torch.tensor([1.0, 0, 0, 0])  # one phrase only: no target
    for i in (1, 3, 5):  # three phrases: no target
        phrases[2, i] = torch.tensor([0, 0, 0, float(i == 3)])
    mask = torch.ones(3, 8, dtype=torch.bool)
    mask[0, 7] = False
    out = role_targets(phrases, mask)
    torch.testing.assert_close(out[0, :7], torch.tensor([0.0, -0.5, -0.5, 0.0, 0.0, 0.5, 0.5]))
    assert out[0, 7].isnan() and out[1:].isnan().all()


def test_match_roles_read_the_signed_sum_of_the_where_read_outs_and_the_role_loss_trains_it():
    from jarvl.models.fusions.gated import GatedCrossAttention
    from jarvl.models.model import role_targets

    torch.manual_seed(0)
    block = GatedCrossAttention(16, 2, gate_init=1.0, match_scores=True, match_where=True, match_roles=True)
    assert block.score.in_features == 2 * (1 + 2 + 2)
    seen = []
    block.score.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    from jarvl.blocks.layers import grid_positions

    pos, t, f = grid_positions(4), torch.randn(2, 3, 16), torch.randn(2, 4, 16)
    roles = torch.tensor([[-1.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
    block(t, f, positions=pos, roles=roles)
    where = seen[0][..., 2:6]  # per query: x of both heads, then y
    expected = (roles.unsqueeze(-1) * where).sum(1, keepdim=True).expand_as(where)
    torch.testing.assert_close(seen[0][..., 6:], expected)
    with pytest.raises(ValueError, match="match_roles needs the queries' roles"):
        block(t, f, positions=pos)
    with pytest.raises(ValueError, match="match_roles needs match_where"):
        GatedCrossAttention(16, 2, match_scores=True, match_roles=True)

    cfg = _referring_cfg(0.0)
    cfg.referring.phrases, cfg.referring.roles = 1.0, 2.0
    with pytest.raises(ValueError, match="referring.roles needs fusion.match_roles: true"):
        cfg.validate()
    cfg.fusion.match_roles = True
    with pytest.raises(ValueError, match="fusion.match_roles needs fusion.match_where: true"):
        cfg.validate()
    cfg.fusion.match_where = cfg.fusion.match_scores = True
    cfg.referring.offset = 1.0
    cfg.referring.roles = 0.0
    with pytest.raises(ValueError, match="referring.offset needs referring.roles > 0"):
        cfg.validate()
    cfg.referring.roles = -1.0
    with pytest.raises(ValueError, match="referring.roles must be a finite number >= 0, got -1.0"):
        cfg.validate()
    cfg.referring.roles, cfg.referring.offset = 2.0, 0.0
    model = JARVLModel(cfg.validate())
    images, ids, mask, targets = random_batch(cfg)
    phrases = torch.full((2, ids.shape[1], 64), -1.0)
    phrases[0, 1], phrases[0, 4] = 0.0, 0.0
    phrases[0, 1, 5], phrases[0, 4, 9] = 1.0, 1.0  # words 1 and 4 of text 0: two referents
    out = model(images, ids, mask, targets, phrases=phrases)
    target = role_targets(phrases, mask)
    keep = ~target.isnan()
    expected = torch.nn.functional.mse_loss(out.fusion.roles[keep], target[keep])
    model.cfg.referring.roles = 0.0
    plain = model(images, ids, mask, targets, phrases=phrases)
    model.cfg.referring.roles = 2.0
    torch.testing.assert_close(out.loss, plain.loss + 2.0 * expected)
    out.loss.backward()
    assert model.fusion.role.weight.grad.abs().sum() > 0


def test_the_offset_loss_trains_every_heads_signed_read_out_to_the_referents_offset():
    from jarvl.blocks.layers import grid_positions
    from jarvl.models.model import offset_loss

    phrases = torch.full((2, 6, 64), -1.0)
    phrases[0, 1], phrases[0, 4] = 0.0, 0.0
    phrases[0, 1, 0] = 1.0  # first referent: cell 0, (x, y) = (-1, -1)
    phrases[0, 4, 63] = 1.0  # second: cell 63, (1, 1)
    phrases[1, 2] = 0.0  # one phrase: no target
    mask = torch.ones(2, 6, dtype=torch.bool)
    assert grid_positions(64)[63].tolist() == [1.0, 1.0]
    offset = torch.zeros(2, 8, requires_grad=True)  # 4 heads: x of each, then y of each
    loss = offset_loss(offset, phrases, mask)
    torch.testing.assert_close(loss, torch.tensor(4.0))  # target (2, 2) in every head
    loss.backward()
    assert offset.grad[1].abs().sum() == 0 and (offset.grad[0] < 0).all()
    torch.testing.assert_close(offset_loss(torch.full((2, 8), 2.0), phrases, mask), torch.tensor(0.0))


@pytest.mark.parametrize("scores", [True, False])
def test_the_fusions_referring_logits_are_its_first_layers_cell_logits(scores):
    from jarvl.blocks.layers import grid_positions
    from jarvl.models import FusionConfig, build_fusion

    extra = dict(match_scores=True, match_where=True, position_queries=True, match_count=True) if scores else {}
    cfg = FusionConfig(num_tokens=4, iterations=2, layers=2, gate_init=0.5, image_context="tokens", text_context="tokens", **extra)
    torch.manual_seed(0)
    fusion = build_fusion(cfg, width=32, heads=4).eval()
    with torch.no_grad():  # a live position query, so that its bias is part of what is compared
        for p in fusion.fuse[0].parameters():
            p.add_(0.1 * torch.randn_like(p))
    fusion.referring = True
    image, text = torch.randn(2, 16, 32), torch.randn(2, 7, 32)
    mask = torch.ones(2, 7, dtype=torch.bool)
    out = fusion(image, text, mask).referring
    expected = fusion.fuse[0].cell_logits(text, image, grid_positions(16) if scores else None)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


# --- entailment statements: the same supervision as the questions they restate ---


@pytest.mark.parametrize(
    "statement, phrases",
    [
        ("there is a red circle.", [("red circle", [0])]),
        ("there is a green circle made of wood.", [("green circle", [])]),  # contradiction: nothing named
        ("there is a red circle made of wood.", [("red circle", [0])]),  # neutral: the red circle is there
        ("there are two red objects.", [("red objects", [0, 1])]),
        ("there are no squares.", [("squares", [1])]),
        ("there are more circles than squares.", [("circles", [0, 2]), ("squares", [1])]),
        ("there are as many blue objects as squares.", [("blue objects", [2]), ("squares", [1])]),
        ("the large circle is left of the red square.", [("large circle", [0]), ("red square", [1])]),
        ("the red square is the same size as the blue circle.", [("red square", [1]), ("blue circle", [2])]),
        ("the small circle is blue.", [("small circle", [2])]),
        ("the red object is a circle.", None),  # two red objects: ill-posed
    ],
)
def test_statement_referents_and_phrases_name_what_the_words_pick_out(statement, phrases):
    refs = statement_referents(SCENE, statement)
    if phrases is None:
        assert refs is None
        return
    got = [(statement[a:b], found) for a, b, found in statement_phrase_spans(SCENE, statement)]
    assert got == phrases
    assert refs == sorted({j for _, found in phrases for j in found})


def test_every_generated_statement_has_referents_and_phrases_that_agree_with_its_label():
    ds = SyntheticDataset("entailment", "train", 300, config=SynthConfig(min_objects=3, max_objects=6))
    families = set()
    for i in range(len(ds)):
        s = ds[i]
        refs, phrases = s.meta["referents"], s.meta["phrases"]
        assert refs is not None and phrases, s.prompt
        assert {j for _, _, found in phrases for j in found} == set(refs), s.prompt
        families.add(s.family)
        if s.family == "material":  # neutral exactly when what it names is there
            assert (len(refs) > 0) == (s.target == "neutral"), s.prompt
        elif s.family == "exists":
            assert (len(refs) > 0) == (s.target == "entailment"), s.prompt
    assert families == {"material", "exists", "count", "attribute", "spatial", "compare_count", "compare_attribute"}
