"""ViT image encoder with a patch embedding or a small convolutional stem."""

from __future__ import annotations

import math

import torch
from torch import nn

from jarvl.blocks.config import VisionConfig
from jarvl.blocks.layers import Encoder


class ConvStem(nn.Module):
    """log2(patch) stride-2 3x3 convolutions: float[B, 3, H, W] -> float[B, D, H/p, W/p].

    On small images a conv stem gives the transformer better local features than one big
    linear patch projection (Xiao et al., "Early convolutions help transformers see better").
    """

    def __init__(self, width: int, patch_size: int) -> None:
        super().__init__()
        steps = int(math.log2(patch_size))
        chans = [3] + [max(16, width // 2 ** (steps - i)) for i in range(1, steps)] + [width]
        layers: list[nn.Module] = []
        for i in range(steps):
            layers.append(nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1))
            if i < steps - 1:
                # GroupNorm, not BatchNorm: a sample's output must not depend on its batch.
                layers += [nn.GroupNorm(1, chans[i + 1]), nn.GELU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """float[B, 3, H, W] -> float[B, D, H/p, W/p] (channels-last memory: its token view is contiguous)."""
        # channels_last: oneDNN's strided 3x3 convolutions (and their backward) are ~25% faster in
        # NHWC on CPU (benchmarks/results/train_speed.md), and (B, D, h, w) -> (B, hw, D) is then free.
        return self.net(x.contiguous(memory_format=torch.channels_last))


def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """float[grid*grid, dim]: half the channels encode the row, half the column (MAE's 2-D sin-cos)."""
    if dim % 4:
        raise ValueError(f"sin-cos positions need a width divisible by 4, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))
    coords = torch.arange(grid, dtype=torch.float64)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")
    parts = []
    for axis in (rows.flatten(), cols.flatten()):
        angles = axis[:, None] * omega[None]
        parts += [angles.sin(), angles.cos()]
    return torch.cat(parts, dim=1).float()


class ImageEncoder(nn.Module):
    """float[B, 3, H, W] (normalised pixels) -> image tokens float[B, M, Dv], M = (H/p)(W/p)."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.stem == "conv":
            self.stem: nn.Module = ConvStem(cfg.width, cfg.patch_size)
        else:
            self.stem = nn.Conv2d(3, cfg.width, cfg.patch_size, stride=cfg.patch_size)
        grid = cfg.image_size // cfg.patch_size
        if cfg.pos == "sincos":
            # Fixed 2-D sin-cos positions (MAE): unit scale from step 0, so spatial questions have
            # positions to work with before a learned table would have grown out of its 0.02 init.
            self.register_buffer("pos", sincos_2d(grid, cfg.width)[None], persistent=False)
        else:
            self.pos = nn.Parameter(torch.zeros(1, cfg.num_tokens, cfg.width))
            nn.init.trunc_normal_(self.pos, std=0.02)
        self.encoder = Encoder(cfg.width, cfg.depth, cfg.heads, cfg.mlp_ratio)

    def freeze_parts(self) -> tuple[list[nn.Module], list[nn.Module]]:
        """(the transformer blocks in order, the modules after them), for ``jarvl.models.freeze``."""
        return list(self.encoder.layers), [self.encoder.norm]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """float[B, 3, H, W] -> float[B, M, Dv]."""
        if images.shape[-2:] != (self.cfg.image_size, self.cfg.image_size):
            raise ValueError(f"expected images of {self.cfg.image_size}x{self.cfg.image_size}, got {tuple(images.shape[-2:])}")
        x = self.stem(images).flatten(2).transpose(1, 2)  # (B, M, Dv)
        return self.encoder(x + self.pos)
