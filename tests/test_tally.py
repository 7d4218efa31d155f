"""The tally (``fusion.match_tally``) and its targets (``referring.tally``, the comparatives' asks):
what the comparatives ask agrees with the oracle, the generated meta, the per-token targets, the
read-out, the loss, config errors, and a training run with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_batch, train_tiny_run

from jarvl.blocks.config import without_unfit_referring
from jarvl.blocks.layers import grid_positions
from jarvl.data.collate import Collator, direction_targets
from jarvl.data.schema import Sample
from jarvl.data.synthetic.config import SynthConfig
from jarvl.data.synthetic.dataset import SyntheticDataset
from jarvl.data.synthetic.oracle import answer_question, comparative_asks, relation_directions
from jarvl.data.synthetic.scene import Obj, Scene
from jarvl.models import get_preset
from jarvl.models.fusions.gated import GatedCrossAttention
from jarvl.models.model import JARVLModel, tally_loss


@pytest.mark.parametrize("circles,squares", [(0, 1), (1, 1), (2, 1), (1, 3), (2, 2), (3, 0)])
def test_what_a_comparative_asks_is_positive_exactly_when_the_oracle_says_yes(circles, squares):
    objs = [Obj("circle", "red", "small", 6 + 12 * i, 8) for i in range(circles)]
    objs += [Obj("square", "blue", "small", 6 + 12 * i, 40) for i in range(squares)]
    scene = Scene(tuple(objs), 64, "A")
    diff = squares - circles  # n_B - n_A: the second phrase's count minus the first's
    for word, tail in (("more", "than"), ("fewer", "than"), ("as many", "as")):
        q = f"are there {word} circles {tail} squares?"
        ((start, end, (a, b, c)),) = comparative_asks(q)
        assert q[start:end] == word
        assert answer_question(scene, q) == ("yes" if a * diff + b * abs(diff) + c > 0 else "no"), q
    assert comparative_asks("there are fewer red objects than circles.")[0][2] == (1.0, 0.0, -0.5)
    assert comparative_asks("is the red circle the same size as the blue square?") == []
    assert comparative_asks("how many circles are there?") == []


def test_generated_questions_carry_their_comparatives():
    ds = SyntheticDataset("vqa", "train", 300, config=SynthConfig(families=("compare", "count")))
    seen = 0
    for i in range(len(ds)):
        s = ds[i]
        assert s.meta["comparatives"] == [[a, b, list(x)] for a, b, x in comparative_asks(s.prompt)]
        seen += bool(s.meta["comparatives"])
        if s.meta["comparatives"]:
            assert s.prompt.startswith("are there ") and len(s.meta["phrases"]) == 2
    assert seen > 0


def _sample(prompt: str) -> Sample:
    meta = {"directions": relation_directions(prompt), "comparatives": comparative_asks(prompt)}
    return Sample(prompt=prompt, target="a", task="vqa", image=np.zeros((64, 64, 3), dtype=np.uint8), meta=meta)


def test_direction_targets_with_comparatives_are_five_wide():
    from jarvl.data.tokenizer import train_tokenizer

    cmp, rel, other = "are there as many circles as squares?", "is the red circle left of the blue square?", "how many circles?"
    tok = train_tokenizer([cmp, rel, other, "a"], vocab_size=80)
    batch = Collator(tok, 64, 16, 4, directions=True, comparatives=True)([_sample(cmp), _sample(rel), _sample(other)])
    assert batch.directions.shape[::2] == (3, 5)
    for row, prompt in enumerate((cmp, rel)):
        words = tok.hf.encode(prompt, add_special_tokens=False).tokens
        for i, w in enumerate(words):
            if row == 0:  # the first "as" and "many" ask (0, -1, 1/2); the second "as" is no comparative
                expected = [0.0, 0.0, 0.0, -1.0, 0.5] if i in (2, 3) else [0.0] * 5
            else:
                expected = [1.0, 0.0, 0.0, 0.0, 0.0] if w in ("left", "of") else [0.0] * 5
            assert batch.directions[row, i].tolist() == expected, (prompt, w)
    assert batch.directions[2].isnan().all()  # neither kind: no target
    two = Collator(tok, 64, 16, 4, directions=True)([_sample(cmp), _sample(rel)]).directions
    assert two.shape[-1] == 2 and two[0].isnan().all()  # without comparatives the comparison has no target
    offsets = tok.prompt_offsets([cmp], 16)[0]
    torch.testing.assert_close(
        direction_targets(_sample(cmp), offsets, batch.directions.shape[1], comparatives=True), batch.directions[0], equal_nan=True
    )


def test_match_tally_counts_the_matches_and_reads_the_difference_along_the_asked_components():
    torch.manual_seed(0)
    kw = dict(match_scores=True, match_where=True, match_roles=True, match_direction=True, match_tally=True)
    block = GatedCrossAttention(16, 2, gate_init=1.0, **kw)
    assert block.score.in_features == 2 * (1 + 2 + 2 + 1) + 2 and block.where_u.shape == (5 * 2, 16)
    seen = []
    block.score.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    pos, t, f = grid_positions(4), torch.randn(2, 3, 16), torch.randn(2, 4, 16)
    f_mask = torch.tensor([[True, True, True, False], [True] * 4])
    roles = torch.tensor([[-1.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    with torch.no_grad():
        block.where_u.normal_()
    block(t, f, f_mask, positions=pos, roles=roles, query_mask=mask)
    logits = block.cell_logits(t, f, pos)  # (B, N, S): the referring logits
    tally = (torch.sigmoid(logits + block.tally_bias) * f_mask.unsqueeze(1)).sum(-1)
    torch.testing.assert_close(block.tally, tally)
    torch.testing.assert_close(seen[0][..., 10], tally)
    diff = (roles * tally).sum(1)  # (B,): n_B - n_A
    torch.testing.assert_close(seen[0][..., 11], diff.unsqueeze(1).expand(2, 3))
    signed = seen[0][..., 6:10].view(2, 3, 2, 2)[:, :1]  # (B, 1, 2, h): x then y per head
    feats = torch.cat([signed, torch.stack([diff, diff.abs(), torch.ones(2)], -1).view(2, 1, 3, 1).expand(2, 1, 3, 2)], 2)
    u = (block.asked * mask.view(2, 3, 1, 1)).sum(1, keepdim=True)  # (B, 1, 5, h), padding left out
    torch.testing.assert_close(seen[0][..., 12:], (u * feats).sum(2).expand(2, 3, 2))
    seen[0][..., 10:].sum().backward(retain_graph=True)
    assert block.tally_bias.grad.abs() > 0 and block.attn.q.weight.grad.abs().sum() > 0
    block.zero_grad()
    block.tally.sum().backward()  # what the count target fits: the threshold, not the logits
    assert block.tally_bias.grad.abs() > 0
    assert block.attn.q.weight.grad is None  # zero_grad left it None: nothing reached it
    with pytest.raises(ValueError, match="match_tally needs match_roles"):
        GatedCrossAttention(16, 2, match_scores=True, match_where=True, match_tally=True)


def _tally_cfg():
    cfg = get_preset("tiny", "jar")
    cfg.fusion.image_context = cfg.fusion.text_context = "tokens"
    cfg.fusion.match_scores = cfg.fusion.match_where = cfg.fusion.match_roles = True
    cfg.fusion.match_direction = cfg.fusion.match_tally = True
    cfg.referring.phrases, cfg.referring.roles, cfg.referring.directions, cfg.referring.tally = 1.0, 1.0, 1.0, 2.0
    return cfg


def test_the_tally_loss_counts_each_phrase_words_target_cells():
    tally = torch.tensor([[1.0, 3.0, 0.0], [2.0, 2.0, 2.0]], requires_grad=True)
    phrases = torch.full((2, 3, 4), -1.0)
    phrases[0, 0] = torch.tensor([1.0, 1.0, 0.0, 0.0])  # a word naming two objects
    phrases[0, 1] = torch.tensor([0.0, 0.0, 0.0, 0.0])  # a word naming nothing there
    loss = tally_loss(tally, phrases)
    torch.testing.assert_close(loss, torch.tensor((1.0 + 9.0) / 2))
    loss.backward()
    assert tally.grad[1].abs().sum() == 0 and tally.grad[0, 2] == 0
    assert tally_loss(tally, torch.full((2, 3, 4), -1.0)).item() == 0.0

    torch.manual_seed(0)
    cfg = _tally_cfg()
    cfg.referring.directions = 0.0
    model = JARVLModel(cfg.validate())
    images, ids, mask, targets = random_batch(cfg)
    words = torch.full((2, ids.shape[1], 64), -1.0)
    words[0, 1, :3] = 1.0
    words[0, 1, 3:] = 0.0
    out = model(images, ids, mask, targets, phrases=words)
    assert out.fusion.tally.shape == ids.shape
    cfg.referring.tally = 0.0
    plain = model(images, ids, mask, targets, phrases=words)
    torch.testing.assert_close(out.loss, plain.loss + 2.0 * tally_loss(out.fusion.tally, words))


def test_tally_config_errors_name_the_key_and_unfit_recipes_drop_it():
    cfg = _tally_cfg()
    cfg.fusion.match_tally = False
    with pytest.raises(ValueError, match="referring.tally needs fusion.match_tally: true and referring.phrases > 0"):
        cfg.validate()
    cfg = _tally_cfg()
    cfg.fusion.match_roles = cfg.fusion.match_direction = False
    cfg.referring.roles = cfg.referring.directions = 0.0
    with pytest.raises(ValueError, match="fusion.match_tally needs fusion.match_roles: true"):
        cfg.validate()
    cfg = _tally_cfg()
    cfg.referring.tally = -1.0
    with pytest.raises(ValueError, match="referring.tally must be a finite number >= 0, got -1.0"):
        cfg.validate()
    cfg = _tally_cfg()
    cfg.fusion.text_context = "latents"  # no roles without the text tokens: the tally and its target go too
    fitted = without_unfit_referring(cfg)
    assert not fitted.fusion.match_tally and fitted.referring.tally == 0.0
    fitted.validate()


def test_training_with_the_tally_runs_and_predicts(tmp_path):
    fusion = {"image_context": "tokens", "text_context": "tokens", "match_scores": True, "match_where": True}
    fusion.update(match_roles=True, match_direction=True, match_tally=True)
    referring = {"phrases": 1.0, "roles": 1.0, "directions": 1.0, "tally": 1.0}
    pred = train_tiny_run(tmp_path, {"fusion": fusion, "referring": referring}, "synthetic:vqa:train?n=64&families=compare,spatial")
    assert isinstance(pred.answer(np.zeros((64, 64, 3), dtype=np.uint8), "are there more circles than squares?"), str)
