"""The peers' fusion modules behind jarvl's fusion contract, for timing beside jar and concat.

Each wraps a published implementation (the benchmark-only ``jarvl[peers]`` extra, plus
``transformers`` for ViLT) at the width, heads, MLP ratio, latent count and depth of the fusion
config it is given, between jarvl's own encoders and decoder, so only the fusion differs:

- ``peer_flamingo`` (flamingo-pytorch): a Perceiver resampler (1 layer) of ``num_tokens`` latents
  over the image tokens; the text tokens then go through ``iterations`` x (gated cross-attention
  to the latents + ``layers_per_iteration`` transformer layers), as Flamingo interleaves them
  with its LM. Output: the L text tokens.
- ``peer_perceiver`` (perceiver-pytorch): ``num_tokens`` latents cross-attend to [image; text]
  (masked), each followed by ``layers_per_iteration`` latent self-attention layers, ``iterations``
  times (no Fourier features: the tokens carry their positions). Output: the latents.
- ``peer_vilt`` (transformers' ``ViltEncoder``, the encoder of ``ViltModel``): ``layers`` layers
  over [image; text], concatenation fusion as Hugging Face implements it (explicit attention).

Importing this module registers them; it needs the packages installed (``pip install -e .[peers]``).
"""

from __future__ import annotations

import torch
from torch import nn

from jarvl.blocks.layers import TransformerLayer
from jarvl.models.fusions.base import Fusion, FusionOutput, joint_sequence, register_fusion, rows_for_texts

PEERS = ("peer_flamingo", "peer_perceiver", "peer_vilt")
PACKAGES = {"peer_flamingo": "flamingo_pytorch", "peer_perceiver": "perceiver_pytorch", "peer_vilt": "transformers"}


def missing(fusion: str) -> str | None:
    """The package a peer fusion needs when it is not installed (``pip install -e .[peers]``), else None."""
    import importlib.util

    package = PACKAGES.get(fusion)
    return package if package and importlib.util.find_spec(package) is None else None


def _tagged(width: int) -> nn.Parameter:
    modality = nn.Parameter(torch.zeros(2, width))
    nn.init.trunc_normal_(modality, std=0.02)
    return modality


@register_fusion("peer_flamingo")
class FlamingoPeer(Fusion):
    """float[B, M, D], float[B, L, D], bool[B, L] -> float[B, L, D] (the text's mask)."""

    def __init__(self, cfg, *, width, heads, mlp_ratio):
        super().__init__(cfg, width=width, heads=heads, mlp_ratio=mlp_ratio)
        from flamingo_pytorch import GatedCrossAttentionBlock, PerceiverResampler

        h, ff = self.heads, int(mlp_ratio)
        self.resampler = PerceiverResampler(dim=width, depth=1, dim_head=width // h, heads=h, num_latents=cfg.num_tokens, ff_mult=ff)
        self.xattn = nn.ModuleList(
            GatedCrossAttentionBlock(dim=width, dim_head=width // h, heads=h, ff_mult=ff) for _ in range(cfg.iterations)
        )
        self.layers = nn.ModuleList(
            nn.ModuleList(TransformerLayer(width, h, mlp_ratio) for _ in range(cfg.layers_per_iteration)) for _ in range(cfg.iterations)
        )
        self.norm = nn.LayerNorm(width)

    def forward(self, image, text, text_mask, image_index=None):
        media = rows_for_texts(self.resampler(image), image_index)  # (B, 1, N, D)
        x = text
        for xattn, layers in zip(self.xattn, self.layers):
            x = xattn(x, media)
            for layer in layers:
                x = layer(x, text_mask)
        return FusionOutput(self.norm(x), text_mask, {})


@register_fusion("peer_perceiver")
class PerceiverPeer(Fusion):
    """float[B, M, D], float[B, L, D], bool[B, L] -> float[B, N, D] (mask all True)."""

    def __init__(self, cfg, *, width, heads, mlp_ratio):
        super().__init__(cfg, width=width, heads=heads, mlp_ratio=mlp_ratio)
        from perceiver_pytorch import Perceiver

        h = self.heads
        self.modality = _tagged(width)
        self.perceiver = Perceiver(
            num_freq_bands=1,
            max_freq=1.0,
            depth=cfg.iterations,
            input_channels=width,
            input_axis=1,
            num_latents=cfg.num_tokens,
            latent_dim=width,
            cross_heads=1,
            latent_heads=h,
            cross_dim_head=width,
            latent_dim_head=width // h,
            self_per_cross_attn=cfg.layers_per_iteration,
            fourier_encode_data=False,
            final_classifier_head=False,
        )
        self.norm = nn.LayerNorm(width)

    def forward(self, image, text, text_mask, image_index=None):
        x, mask = joint_sequence(rows_for_texts(image, image_index), text, text_mask, self.modality)
        latents = self.perceiver(x, mask=mask, return_embeddings=True)  # (B, N, D)
        return FusionOutput(self.norm(latents), torch.ones(latents.shape[:2], dtype=torch.bool, device=x.device), {})


@register_fusion("peer_vilt")
class ViltPeer(Fusion):
    """float[B, M, D], float[B, L, D], bool[B, L] -> float[B, M + L, D], mask [ones; text_mask]."""

    def __init__(self, cfg, *, width, heads, mlp_ratio):
        super().__init__(cfg, width=width, heads=heads, mlp_ratio=mlp_ratio)
        from transformers import ViltConfig
        from transformers.models.vilt.modeling_vilt import ViltEncoder

        config = ViltConfig(
            hidden_size=width,
            num_hidden_layers=cfg.layers,
            num_attention_heads=self.heads,
            intermediate_size=int(width * mlp_ratio),
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
        self.modality = _tagged(width)
        self.encoder = ViltEncoder(config)
        self.norm = nn.LayerNorm(width)

    def forward(self, image, text, text_mask, image_index=None):
        x, mask = joint_sequence(rows_for_texts(image, image_index), text, text_mask, self.modality)
        additive = (~mask)[:, None, None, :].to(x.dtype) * torch.finfo(x.dtype).min  # ViltModel's extended mask
        out = self.encoder(x, attention_mask=additive, return_dict=False)[0]
        return FusionOutput(self.norm(out), mask, {})
