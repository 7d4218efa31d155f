"""Cross-attention fusion (Flamingo-style): text tokens query the image tokens in every layer."""

from __future__ import annotations

from torch import nn

from jarvl.blocks.config import FusionConfig
from jarvl.blocks.layers import TransformerLayer
from jarvl.models.fusions.base import Fusion, FusionOutput, register_fusion, rows_for_texts
from jarvl.models.fusions.gated import GatedCrossAttention


@register_fusion("cross_attention")
class CrossAttentionFusion(Fusion):
    """float[B, M, D], float[B, L, D], bool[B, L] -> float[B, L, D] with the text mask.

    ``cfg.layers`` blocks, each gated cross-attention (Eq. 3, text -> all M image tokens) then
    a self-attention layer over the text. No resampling: the text is the bottleneck.
    """

    def __init__(self, cfg: FusionConfig, *, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__(cfg, width=width, heads=heads, mlp_ratio=mlp_ratio)
        self.cross = nn.ModuleList(
            GatedCrossAttention(width, self.heads, mlp_ratio, cfg.gate_init, match_scores=cfg.match_scores, match_count=cfg.match_count)
            for _ in range(cfg.layers)
        )
        self.layers = nn.ModuleList(TransformerLayer(width, self.heads, mlp_ratio) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(width)

    def forward(self, image, text, text_mask, image_index=None) -> FusionOutput:
        """See the class docstring for shapes (``image_index``: see ``fusions.base``)."""
        image = rows_for_texts(image, image_index)
        x, diag = text, {}
        for i, (cross, layer) in enumerate(zip(self.cross, self.layers)):
            x, attn = cross(x, image, return_attn=self.return_attn)
            x = layer(x, text_mask)
            if attn is not None:
                diag[f"attn/cross{i}"] = attn.detach()
        diag.update({f"gate/{k}": v for k, v in self.gate_values().items()})
        return FusionOutput(self.norm(x), text_mask, diag)
