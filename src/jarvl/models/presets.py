"""Named model presets in a registry: one function per preset (timm's habit)."""

from __future__ import annotations

from collections.abc import Callable

from jarvl.blocks.config import DecoderConfig, FusionConfig, ModelConfig, TextConfig, VisionConfig
from jarvl.registry import Registry

PRESETS: Registry[Callable[[], ModelConfig]] = Registry("model preset")


def register_preset(fn: Callable[[], ModelConfig]) -> Callable[[], ModelConfig]:
    """Decorator: the function's name (``_`` -> ``-``) becomes the preset's name."""
    return PRESETS.register(fn.__name__.replace("_", "-"), fn)


@register_preset
def tiny() -> ModelConfig:
    """64x64 images, width 128: trains in minutes on 2 CPU cores (the demo's model)."""
    return ModelConfig(
        preset="tiny",
        width=128,
        heads=4,
        mlp_ratio=2.0,
        vision=VisionConfig(image_size=64, patch_size=8, stem="conv", width=128, depth=2, heads=4, mlp_ratio=2.0),
        text=TextConfig(vocab_size=512, max_len=24, width=128, depth=2, heads=4, mlp_ratio=2.0),
        fusion=FusionConfig(num_tokens=16, iterations=2, layers=4),
        decoder=DecoderConfig(depth=1, heads=4, mlp_ratio=2.0, max_len=12),
    )


@register_preset
def small() -> ModelConfig:
    """128x128 images, width 256, 6-layer ViT: a laptop/GPU model between tiny and paper-base."""
    return ModelConfig(
        preset="small",
        width=256,
        heads=4,
        vision=VisionConfig(image_size=128, patch_size=8, stem="conv", width=256, depth=6, heads=4),
        text=TextConfig(vocab_size=8000, max_len=32, width=256, depth=4, heads=4),
        fusion=FusionConfig(num_tokens=32, iterations=4, layers=8),
        decoder=DecoderConfig(depth=4, heads=4, max_len=24),
    )


@register_preset
def paper_base() -> ModelConfig:
    """The paper's headline model: ViT-B/16 at 224, width 768, N = 64, 4 iterations, 32 fusion layers,
    T5-base-sized text encoder and decoder (12 layers, width 768, 12 heads, MLP 3072, 32k vocab)."""
    return ModelConfig(
        preset="paper-base",
        width=768,
        heads=12,
        vision=VisionConfig(image_size=224, patch_size=16, stem="patch", width=768, depth=12, heads=12),
        text=TextConfig(vocab_size=32128, max_len=32, width=768, depth=12, heads=12),
        fusion=FusionConfig(num_tokens=64, iterations=4, layers=32),
        decoder=DecoderConfig(depth=12, heads=12, max_len=16),
    )


@register_preset
def paper_base_shared() -> ModelConfig:
    """paper-base read to fit the 350M parameters of the paper's earlier version as well as its 38.9 G
    multiply-adds: the 4 iterations share one Eq. 3 block and one 8-layer stack (32 layer applications,
    the same FLOPs) and the text encoder shares the decoder's embedding, as T5 does (389M, not 605M)."""
    cfg = paper_base()
    cfg.preset = "paper-base-shared"
    cfg.fusion.share_iterations = True
    cfg.tie_embeddings = True
    return cfg


def list_presets() -> list[str]:
    """Names of every registered preset."""
    return PRESETS.names()


def get_preset(name: str, fusion: str | None = None) -> ModelConfig:
    """The config of preset ``name`` (a fresh copy), optionally with another fusion."""
    cfg = PRESETS.get(name)()
    if fusion is not None:
        cfg.fusion.name = fusion
    return cfg


def build_model(name_or_cfg: str | ModelConfig, fusion: str | None = None):
    """A freshly initialised :class:`~jarvl.models.model.JARVLModel` from a preset name or a config;
    towers with a ``backbone`` start from its pretrained weights."""
    from jarvl.models.model import JARVLModel
    from jarvl.models.pretrained import load_pretrained_towers

    cfg = get_preset(name_or_cfg, fusion) if isinstance(name_or_cfg, str) else name_or_cfg
    model = JARVLModel(cfg)
    load_pretrained_towers(model)
    return model
