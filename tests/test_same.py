"""The sameness read-out (``fusion.match_same``) and its targets (``referring.same``, the attribute
words' asks): the generated meta, the per-token targets, the read-out, the targets from the
grounding ground truth, the loss, config errors, and a training run with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_batch, train_tiny_run

from jarvl.blocks.config import without_unfit_referring
from jarvl.blocks.layers import grid_positions
from jarvl.data.collate import Collator, GridTargets, PhraseTargets
from jarvl.data.registry import open_dataset
from jarvl.data.schema import Sample
from jarvl.data.synthetic.oracle import answer_question, comparative_asks, phrase_spans, same_asks
from jarvl.data.synthetic.scene import Obj, Scene
from jarvl.models import get_preset
from jarvl.models.fusions.gated import GatedCrossAttention
from jarvl.models.model import JARVLModel, role_targets, same_loss, same_targets

ATTRIBUTES = {"color": ("red", "blue"), "shape": ("circle", "square"), "size": ("small", "large")}


def test_same_asks_names_the_attribute_word():
    q = "is the red circle the same size as the blue square?"
    ((start, end, name),) = same_asks(q)
    assert q[start:end] == "size" == name
    assert same_asks("the large circle is the same color as the small object.")[0][2] == "color"
    assert same_asks("are there as many circles as squares?") == [] == same_asks("what size is the red circle?")


def test_generated_sameness_questions_carry_their_attribute_word():
    ds = open_dataset("synthetic:vqa:train?n=200&families=compare")
    seen = 0
    for i in range(len(ds)):
        s = ds[i]
        assert s.meta["same"] == [[a, b, n] for a, b, n in same_asks(s.prompt)]
        seen += bool(s.meta["same"])
    assert seen > 0


def _sample(prompt: str, objects: list[Obj], phrases) -> Sample:
    meta = {
        "objects": [{"shape": o.shape, "color": o.color, "size": o.size, "x": o.x, "y": o.y} for o in objects],
        "phrases": phrases,
        "directions": [],
        "comparatives": comparative_asks(prompt),
        "same": same_asks(prompt),
    }
    return Sample(prompt=prompt, target="a", task="vqa", image=np.zeros((64, 64, 3), dtype=np.uint8), meta=meta)


def _collator(tok):
    return Collator(
        tok,
        64,
        16,
        4,
        grid_targets=GridTargets(ATTRIBUTES, 8),
        phrase_targets=PhraseTargets(8),
        directions=True,
        attributes=tuple(ATTRIBUTES),
    )


def test_same_targets_say_which_attributes_the_two_referents_share_as_the_oracle_does():
    from jarvl.data.tokenizer import train_tokenizer

    a, b, c = Obj("circle", "red", "small", 8, 8), Obj("square", "red", "large", 40, 40), Obj("square", "blue", "large", 40, 8)
    scene = Scene((a, b, c), 64, "A")
    texts = (
        "is the small circle the same color as the large red square?",
        "is the small circle the same color as the large square?",  # two large squares: no target
        "are there as many red objects as squares?",  # sets, not one object each: no target
    )
    prompts = [(q, phrase_spans(scene, q)) for q in texts]
    tok = train_tokenizer([p for p, _ in prompts] + ["a"], vocab_size=90)
    batch = _collator(tok)([_sample(p, [a, b, c], ph) for p, ph in prompts])
    roles = role_targets(batch.phrases, batch.text_mask)
    same = same_targets(batch.phrases, roles, batch.grid_targets, batch.image_index)
    assert same[0].tolist() == [1.0, 0.0, 0.0]  # both red; circle / square; small / large
    assert same[1:].isnan().all()
    for i, name in enumerate(ATTRIBUTES):  # the targets agree with the oracle's answer
        q = f"is the small circle the same {name} as the large red square?"
        assert answer_question(scene, q) == ("yes" if same[0, i] == 1 else "no")
    # the attribute word asks its attribute: 1 at its component, after (x, y)
    words = tok.hf.encode(prompts[0][0], add_special_tokens=False).tokens
    assert batch.directions.shape[-1] == 2 + 3
    for i, w in enumerate(words):
        assert batch.directions[0, i].tolist() == ([0.0, 0.0, 1.0, 0.0, 0.0] if w == "color" else [0.0] * 5), w
    assert batch.directions[2].isnan().all()  # no relation, comparative (not on) or sameness word


def test_match_same_reads_the_magnitude_of_the_signed_attention_outputs():
    torch.manual_seed(0)
    block = GatedCrossAttention(
        16, 2, gate_init=1.0, match_scores=True, match_where=True, match_roles=True, match_direction=True, match_same=3
    )
    assert block.score.in_features == 2 * (1 + 2 + 2 + 1) + 3 and block.where_u.shape == ((2 + 3) * 2, 16)
    seen, outputs = [], []
    block.score.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    block.attn.out.register_forward_hook(lambda _m, _args, out: outputs.append(out))
    pos, t, f = grid_positions(4), torch.randn(2, 3, 16), torch.randn(2, 4, 16)
    roles = torch.tensor([[-1.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    with torch.no_grad():
        block.where_u.normal_()
    block(t, f, positions=pos, roles=roles, query_mask=mask)
    agree = block.same((roles.unsqueeze(-1) * outputs[0]).sum(1).abs())  # (B, 3)
    torch.testing.assert_close(block.agree, agree)
    torch.testing.assert_close(seen[0][..., 10:13], agree.unsqueeze(1).expand(2, 3, 3))
    signed = seen[0][..., 6:10].view(2, 3, 2, 2)[:, :1]
    feats = torch.cat([signed, agree.view(2, 1, 3, 1).expand(2, 1, 3, 2)], 2)  # (B, 1, 5, h)
    u = (block.asked * mask.view(2, 3, 1, 1)).sum(1, keepdim=True)
    torch.testing.assert_close(seen[0][..., 13:], (u * feats).sum(2).expand(2, 3, 2))
    block.agree.sum().backward()  # what the sameness target fits: the map, not the contents
    assert block.same.weight.grad.abs().sum() > 0 and block.attn.q.weight.grad is None
    with pytest.raises(ValueError, match="match_same needs match_roles"):
        GatedCrossAttention(16, 2, match_scores=True, match_where=True, match_same=3)


def _same_cfg():
    cfg = get_preset("tiny", "jar")
    cfg.fusion.image_context = cfg.fusion.text_context = "tokens"
    cfg.fusion.match_scores = cfg.fusion.match_where = cfg.fusion.match_roles = True
    cfg.fusion.match_same = 3
    cfg.grounding.weight, cfg.grounding.labels = 1.0, dict(ATTRIBUTES)
    cfg.referring.phrases, cfg.referring.same = 1.0, 2.0
    return cfg


def test_the_same_loss_adds_the_weighted_cross_entropy_of_the_known_pairs():
    agree = torch.zeros(2, 3, requires_grad=True)
    target = torch.tensor([[1.0, 0.0, float("nan")], [float("nan")] * 3])
    loss = same_loss(agree, target)
    torch.testing.assert_close(loss, torch.tensor(np.log(2.0), dtype=torch.float))
    loss.backward()
    assert agree.grad[1].abs().sum() == 0 and agree.grad[0, 2] == 0
    assert same_loss(agree, torch.full((2, 3), float("nan"))).item() == 0.0

    torch.manual_seed(0)
    cfg = _same_cfg().validate()
    model = JARVLModel(cfg)
    images, ids, mask, targets = random_batch(cfg)
    words = torch.full((2, ids.shape[1], 64), -1.0)
    words[0, 1], words[0, 3] = torch.zeros(64), torch.zeros(64)
    words[0, 1, 5], words[0, 3, 9] = 1.0, 1.0  # two phrases naming one object each
    grid = torch.full((2, 3, 64), 2, dtype=torch.long)
    grid[0, :, 5], grid[0, :, 9] = torch.tensor([0, 1, 0]), torch.tensor([0, 0, 1])
    out = model(images, ids, mask, targets, phrases=words, grid_targets=grid)
    cfg.referring.same = 0.0
    plain = model(images, ids, mask, targets, phrases=words, grid_targets=grid)
    expected = same_targets(words, role_targets(words, mask), grid)
    assert expected[0].tolist() == [1.0, 0.0, 0.0] and expected[1].isnan().all()
    torch.testing.assert_close(out.loss, plain.loss + 2.0 * same_loss(out.fusion.agree, expected))


def test_same_config_errors_name_the_key_and_unfit_recipes_drop_it():
    cfg = _same_cfg()
    cfg.fusion.match_same = 2
    with pytest.raises(
        ValueError, match=r"fusion.match_same must equal the number of grounding.labels attributes \(3: color, shape, size\), got 2"
    ):
        cfg.validate()
    cfg = _same_cfg()
    cfg.grounding.weight = 0.0
    with pytest.raises(ValueError, match="referring.same needs fusion.match_same > 0, referring.phrases > 0 and grounding.weight > 0"):
        cfg.validate()
    cfg = _same_cfg()
    for bad in (-1, True):
        cfg.fusion.match_same = bad
        with pytest.raises(ValueError, match="fusion.match_same must be an integer >= 0"):
            cfg.validate()
    cfg = _same_cfg()
    cfg.fusion.match_roles = False
    with pytest.raises(ValueError, match="fusion.match_same needs fusion.match_roles: true"):
        cfg.validate()
    cfg = _same_cfg()
    cfg.fusion.text_context = "latents"
    fitted = without_unfit_referring(cfg)
    assert fitted.fusion.match_same == 0 and fitted.referring.same == 0.0


def test_training_with_sameness_runs_and_predicts(tmp_path):
    fusion = {"image_context": "tokens", "text_context": "tokens", "match_scores": True, "match_where": True}
    fusion.update(match_roles=True, match_direction=True, match_tally=True, match_same=3)
    referring = {"phrases": 1.0, "roles": 1.0, "directions": 1.0, "tally": 1.0, "same": 1.0}
    grounding = {"weight": 1.0, "labels": {"color": ["red", "blue"], "shape": ["circle", "square", "triangle"], "size": ["small", "large"]}}
    model = {"fusion": fusion, "referring": referring, "grounding": grounding}
    pred = train_tiny_run(tmp_path, model, "synthetic:vqa:train?n=64&families=compare,spatial")
    assert isinstance(pred.answer(np.zeros((64, 64, 3), dtype=np.uint8), "is the red circle the same size as the blue square?"), str)
