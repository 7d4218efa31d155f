"""A pretrained vision tower (ViT, CLIP vision, SigLIP vision) with the built-in ImageEncoder's contract."""

from __future__ import annotations

import torch

from jarvl.blocks.config import VisionConfig
from jarvl.models.pretrained.tower import PretrainedTower


class PretrainedVisionTower(PretrainedTower):
    """float[B, 3, S, S] (normalised as the checkpoint's preprocessor does) -> float[B, M, Dv].

    M counts every token the tower outputs: ViT and CLIP prepend a class token to their
    (S/p)^2 patches, SigLIP does not. The tokens are ``last_hidden_state`` of the first
    ``cfg.depth`` blocks with the tower's final norm (CLIP's ``post_layernorm`` on every token).
    """

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__(cfg.hf_config, cfg.backbone, "model.vision.backbone")
        self.cfg = cfg
        # Positions are interpolated only when the preprocessor's size differs from the training one.
        self.interpolate = cfg.image_size != cfg.hf_config.get("image_size", cfg.image_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """float[B, 3, S, S] -> float[B, M, Dv]."""
        if images.shape[-2:] != (self.cfg.image_size, self.cfg.image_size):
            raise ValueError(f"expected images of {self.cfg.image_size}x{self.cfg.image_size}, got {tuple(images.shape[-2:])}")
        x = self.model(pixel_values=images, interpolate_pos_encoding=self.interpolate).last_hidden_state
        for module in self.post_modules():
            x = module(x)
        return x
