"""Typed model configs. One width ``D`` is shared by the fusion and the decoder so fusions compare fairly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class VisionConfig:
    """ViT image encoder: patch embedding (or a small conv stem) + pre-LN transformer."""

    image_size: int = 224
    patch_size: int = 16
    stem: Literal["patch", "conv"] = "patch"  # "conv": stride-2 3x3 convs, better for small images
    pos: Literal["sincos", "learned"] = "sincos"  # fixed 2-D sin-cos (MAE) or learned positions
    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0

    @property
    def num_tokens(self) -> int:
        """Number of image tokens M = (image_size / patch_size)^2."""
        return (self.image_size // self.patch_size) ** 2


@dataclass
class TextConfig:
    """Pre-LN transformer text encoder with padding masks."""

    vocab_size: int = 32128
    max_len: int = 32  # longest prompt, in tokens; longer prompts are truncated by the tokenizer
    width: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    pad_id: int = 0  # special token ids, set from the tokenizer the model is trained with
    bos_id: int = 1
    eos_id: int = 2


@dataclass
class FusionConfig:
    """Knobs shared by every fusion, so swapping fusions is a one-word change (STYLE rule 2).

    ``layers`` is the number of transformer layers in the fusion module in all; fusions that
    iterate spread them evenly over ``iterations`` (PAPER.md reads "32 layers" as 4 x 8).
    """

    name: str = "jar"
    num_tokens: int = 64  # N, learned tokens per modality (jar, perceiver, cotokenization)
    iterations: int = 4  # K, fusion iterations (Eq. 4)
    layers: int = 32  # transformer layers in the fusion, in all
    combine: Literal["weighted", "residual", "none"] = "weighted"  # Eq. 4 combination
    resampling: Literal["latent", "spatial"] = "latent"  # Eq. 2, or TokenLearner
    gate_init: float = 0.0  # initial alpha, beta of the tanh gates (Eq. 3)
    heads: int = 0  # 0: the model's heads
    # Gated cross-attentions (jar, cross_attention) add each query's best logit per head to their
    # output (GatedCrossAttention): the match score softmax hides. False = the paper's Eq. 3.
    match_scores: bool = False
    # What jar's gated cross-attentions read: the resampled image latents f_N (the paper's Eq. 3,
    # O(N^2) per iteration) or the M image tokens themselves (O(N M); a sparse object is not
    # averaged away by the question-free image resampler).
    image_context: Literal["latents", "tokens"] = "latents"

    @property
    def layers_per_iteration(self) -> int:
        """Transformer layers T(.) applied after each fusion iteration."""
        return max(1, self.layers // max(1, self.iterations))


@dataclass
class DecoderConfig:
    """Autoregressive transformer decoder cross-attending to the fused tokens."""

    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    max_len: int = 16  # longest generated/target text, in tokens (EOS included)


@dataclass
class ModelConfig:
    """The whole model. ``width`` is D: the fusion and decoder width (Eq. 1 projects to it)."""

    preset: str = "custom"
    width: int = 768
    heads: int = 12
    mlp_ratio: float = 4.0
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)

    def validate(self) -> "ModelConfig":
        """Check the config for values that would only fail deep inside a forward pass."""
        problems = []
        v = self.vision
        if v.image_size % v.patch_size:
            problems.append(f"vision.image_size {v.image_size} is not a multiple of vision.patch_size {v.patch_size}")
        if v.stem == "conv" and v.patch_size & (v.patch_size - 1):
            problems.append(f"vision.stem=conv needs a power-of-two vision.patch_size, got {v.patch_size}")
        for name, width, heads in (
            ("vision", v.width, v.heads),
            ("text", self.text.width, self.text.heads),
            ("", self.width, self.fusion.heads or self.heads),
            ("decoder", self.width, self.decoder.heads),
        ):
            if width % heads:
                problems.append(f"{name + '.' if name else ''}width {width} is not divisible by its heads {heads}")
        if self.fusion.num_tokens < 1 or self.fusion.iterations < 1 or self.fusion.layers < 0:
            problems.append("fusion.num_tokens and fusion.iterations must be >= 1, fusion.layers >= 0")
        if problems:
            raise ValueError("invalid model config: " + "; ".join(problems))
        return self
