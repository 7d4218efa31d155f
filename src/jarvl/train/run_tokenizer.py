"""The tokenizer a run trains with (a text backbone's own, or one learned from the training data),
and the model's vocabulary that follows it."""

from __future__ import annotations

from jarvl.blocks.config import ModelConfig
from jarvl.data.concat import ConcatDataset
from jarvl.data.tokenizer import Tokenizer, train_tokenizer


def fit_tokenizer(train: ConcatDataset, kind: str, vocab_size: int, samples: int) -> Tokenizer:
    """Train the tokenizer on the prompts and targets of the first ``samples`` training records."""
    texts = [t for pair in train.pairs(samples) for t in pair if t]
    if not texts:
        raise ValueError("the training data has no text to train a tokenizer on")
    return train_tokenizer(texts, vocab_size=vocab_size, kind=kind)


def fit_model_to_tokenizer(cfg: ModelConfig, tokenizer: Tokenizer) -> ModelConfig:
    """The model's vocabulary size and special ids follow its tokenizer.

    A pretrained text tower's embedding table must hold every id of the tokenizer (T5's has
    padding rows beyond it); otherwise this fails here, not at the first batch.
    """
    tower_vocab = cfg.text.hf_config.get("vocab_size")
    if tower_vocab and tokenizer.vocab_size > tower_vocab:
        raise ValueError(
            f"the tokenizer has {tokenizer.vocab_size} ids, more than the {tower_vocab} rows of the text backbone's "
            f"embeddings ({cfg.text.backbone}): use the backbone's own tokenizer.json"
        )
    cfg.text.vocab_size = tokenizer.vocab_size
    cfg.text.pad_id, cfg.text.bos_id, cfg.text.eos_id = tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id
    return cfg


def backbone_tokenizer(cfg: ModelConfig) -> Tokenizer | None:
    """The text backbone's own tokenizer (it replaces a locally trained one), or None without one."""
    return Tokenizer.from_pretrained(cfg.text.backbone) if cfg.text.backbone else None
