"""The asked direction (``fusion.match_direction``) and its target (``referring.directions``): the
relation words' directions from the generator's language, the per-token targets, the read-out, the
loss, config errors, and a training run with it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import random_batch, train_tiny_run

from jarvl.blocks.layers import grid_positions
from jarvl.data.collate import Collator, direction_targets
from jarvl.data.schema import Sample
from jarvl.data.synthetic.dataset import SyntheticDataset
from jarvl.data.synthetic.oracle import answer_question, relation_directions
from jarvl.data.synthetic.scene import Obj, Scene
from jarvl.models import get_preset
from jarvl.models.fusions.gated import GatedCrossAttention
from jarvl.models.model import JARVLModel, direction_loss


def test_relation_words_name_the_direction_from_subject_to_object():
    q = "is the red circle left of the blue square?"
    assert relation_directions(q) == [(18, 25, (1.0, 0.0))] and q[18:25] == "left of"
    assert relation_directions("what color is the object above the red circle?") == [(25, 30, (0.0, 1.0))]
    assert relation_directions("what color is the object nearest to the red circle?") == []
    assert relation_directions("how many red objects are there?") == []
    # the direction agrees with the oracle: "A rel B" holds exactly when B - A points along it
    a, b = Obj("circle", "red", "small", 10, 40), Obj("square", "blue", "small", 50, 12)
    scene = Scene((a, b), 64, "A")
    for rel in ("left of", "right of", "above", "below"):
        ((_, _, (dx, dy)),) = relation_directions(f"is the red circle {rel} the blue square?")
        along = dx * (b.x - a.x) + dy * (b.y - a.y)
        assert answer_question(scene, f"is the red circle {rel} the blue square?") == ("yes" if along > 0 else "no")


def test_generated_questions_carry_their_relation_directions():
    ds = SyntheticDataset("vqa", "train", 200)
    seen = 0
    for i in range(len(ds)):
        s = ds[i]
        spans = s.meta["directions"]
        assert [tuple(x[:2]) for x in spans] == [x[:2] for x in relation_directions(s.prompt)]
        for start, end, (dx, dy) in spans:
            seen += 1
            assert s.prompt[start:end] in ("left of", "right of", "above", "below") and math.hypot(dx, dy) == 1
    assert seen > 0


def _sample(prompt: str, directions=None) -> Sample:
    meta = {} if directions is None else {"directions": directions}
    return Sample(prompt=prompt, target="a", task="vqa", image=np.zeros((64, 64, 3), dtype=np.uint8), meta=meta)


def test_direction_targets_mark_the_relation_words_and_zero_the_others():
    from jarvl.data.tokenizer import train_tokenizer

    prompt = "is the red circle left of the blue square?"
    tok = train_tokenizer([prompt, "a"], vocab_size=60)
    collate = Collator(tok, 64, 16, 4, directions=True)
    batch = collate([_sample(prompt, relation_directions(prompt)), _sample("a")])
    words = tok.hf.encode(prompt, add_special_tokens=False).tokens
    assert batch.directions.shape == (2, len(words), 2)
    first = batch.directions[0]
    for i, w in enumerate(words):
        expected = [1.0, 0.0] if w in ("left", "of") else [0.0, 0.0]
        assert first[i].tolist() == expected, w
    assert batch.directions[1].isnan().all()  # no relation words (and padding): no target
    assert Collator(tok, 64, 16, 4)([_sample(prompt, relation_directions(prompt))]).directions is None
    offsets = tok.prompt_offsets([prompt], 16)[0]
    torch.testing.assert_close(direction_targets(_sample(prompt, relation_directions(prompt)), offsets, len(words)), first)


def test_match_direction_reads_the_signed_read_out_along_the_questions_direction():
    torch.manual_seed(0)
    block = GatedCrossAttention(16, 2, gate_init=1.0, match_scores=True, match_where=True, match_roles=True, match_direction=True)
    assert block.score.in_features == 2 * (1 + 2 + 2 + 1)
    seen = []
    block.score.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    pos, t, f = grid_positions(4), torch.randn(2, 3, 16), torch.randn(2, 4, 16)
    roles = torch.tensor([[-1.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    block(t, f, positions=pos, roles=roles, query_mask=mask)
    torch.testing.assert_close(seen[0][..., 10:], torch.zeros(2, 3, 2))  # u starts at zero
    with torch.no_grad():
        block.where_u.normal_()
    seen.clear()
    block(t, f, positions=pos, roles=roles, query_mask=mask)
    signed = seen[0][..., 6:10]  # x of both heads, then y, the same for every query
    u_i = block.norm_t(t) @ block.where_u.T  # (B, N, 4): x of both heads, then y
    torch.testing.assert_close(block.asked, u_i.view(2, 3, 2, 2))
    u = (u_i * mask.unsqueeze(-1)).sum(1, keepdim=True)  # the question's direction: padding left out
    expected = (u[..., :2] * signed[..., :2] + u[..., 2:] * signed[..., 2:]).expand(2, 3, 2)
    torch.testing.assert_close(seen[0][..., 10:], expected)
    seen[0][..., 10:].sum().backward()
    assert block.where_u.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="match_direction needs match_roles"):
        GatedCrossAttention(16, 2, match_scores=True, match_where=True, match_direction=True)


def _direction_cfg():
    cfg = get_preset("tiny", "jar")
    cfg.fusion.image_context = cfg.fusion.text_context = "tokens"
    cfg.fusion.match_scores = cfg.fusion.match_where = cfg.fusion.match_roles = cfg.fusion.match_direction = True
    cfg.referring.phrases, cfg.referring.roles, cfg.referring.directions = 1.0, 1.0, 2.0
    return cfg


def test_the_direction_loss_adds_every_heads_error_on_the_relation_words_only():
    asked = torch.zeros(2, 3, 2, 4, requires_grad=True)
    directions = torch.full((2, 3, 2), float("nan"))
    directions[0, 1] = torch.tensor([0.0, -1.0])  # "below"
    directions[0, 0] = directions[0, 2] = 0.0
    loss = direction_loss(asked, directions)
    torch.testing.assert_close(loss, torch.tensor(1.0 / 6))  # one of the 3 x 2 targets is -1, every head
    loss.backward()
    assert asked.grad[1].abs().sum() == 0 and (asked.grad[0, 1, 1] > 0).all()
    assert direction_loss(asked, torch.full((2, 3, 2), float("nan"))).item() == 0.0

    torch.manual_seed(0)
    cfg = _direction_cfg().validate()
    model = JARVLModel(cfg)
    images, ids, mask, targets = random_batch(cfg)
    ways = torch.full((2, ids.shape[1], 2), float("nan"))
    ways[0, :] = 0.0
    ways[0, 1] = torch.tensor([1.0, 0.0])
    with torch.no_grad():
        for p in model.fusion.fuse[0].where_u, model.fusion.fuse[1].where_u:
            p.normal_()  # away from the zero start, so the loss is not the targets' squares alone
    out = model(images, ids, mask, targets, directions=ways)
    plain = model(images, ids, mask, targets)
    assert out.fusion.asked.shape == (2, ids.shape[1], 2, cfg.heads)
    torch.testing.assert_close(out.loss, plain.loss + 2.0 * direction_loss(out.fusion.asked, ways))
    out.loss.backward()
    assert model.fusion.fuse[0].where_u.grad.abs().sum() > 0


def test_direction_config_errors_name_the_key():
    cfg = _direction_cfg()
    cfg.fusion.match_direction = False
    with pytest.raises(ValueError, match="referring.directions needs fusion.match_direction: true"):
        cfg.validate()
    cfg.referring.directions = 0.0
    cfg.fusion.match_direction, cfg.fusion.match_roles = True, False
    cfg.referring.roles = 0.0
    with pytest.raises(ValueError, match="fusion.match_direction needs fusion.match_roles: true"):
        cfg.validate()
    cfg = _direction_cfg()
    cfg.referring.directions = float("inf")
    with pytest.raises(ValueError, match="referring.directions must be a finite number >= 0, got inf"):
        cfg.validate()


def test_training_with_directions_runs_and_predicts(tmp_path):
    fusion = {"image_context": "tokens", "text_context": "tokens", "match_scores": True, "match_where": True}
    fusion.update(match_roles=True, match_direction=True)
    referring = {"phrases": 1.0, "roles": 1.0, "offset": 1.0, "directions": 1.0}
    pred = train_tiny_run(tmp_path, {"fusion": fusion, "referring": referring}, "synthetic:vqa:train?n=64&families=spatial")
    assert isinstance(pred.answer(np.zeros((64, 64, 3), dtype=np.uint8), "is the red circle left of the blue square?"), str)
