"""JAR fusion: resample once, fuse with gated cross-attention, iterate (PAPER.md Eq. 1-4).

The expensive pass over all M image and L text tokens happens once, in the two resamplers;
every iteration after that costs O(N^2) in the N learned tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from jarvl.blocks.config import FusionConfig
from jarvl.blocks.layers import grid_positions
from jarvl.models.fusions.base import Fusion, FusionOutput, distinct_iterations, layer_stacks, register_fusion, rows_for_texts
from jarvl.models.fusions.gated import GatedCrossAttention
from jarvl.models.fusions.resamplers import build_resampler


@register_fusion("jar")
class JARFusion(Fusion):
    """float[B, M, D], float[B, L, D], bool[B, L] -> N fused tokens float[B, N, D] (mask all True).

    Iteration i (Eq. 4): t_i = combine(t_N, F_{i-1}) (t_1 = t_N); F_i = T_i(Eq3(t_i, f_N)).
    ``combine``: weighted t_N + w_i F (learned scalar w_i, init 1) | residual t_N + F | none F.
    T_i is ``cfg.layers_per_iteration`` pre-LN transformer layers [choice: "32 layers" = K x layers];
    with ``cfg.share_iterations`` every iteration uses one Eq. 3 block and one T.
    With ``cfg.image_context == "tokens"`` Eq. 3 reads the M image tokens instead of f_N (no image
    resampler); with ``cfg.text_context == "tokens"`` the iterations start from the L text tokens (no
    text resampler; the output is then L tokens with the text's mask). ``cfg.match_scores`` (and
    ``match_count``, ``match_where``, ``match_roles``, ``match_direction``, ``match_tally``, ``match_same``) add the
    match read-outs to Eq. 3 and ``cfg.position_queries`` a query-dependent position bias to its
    logits (GatedCrossAttention). With ``referring``
    set (and image tokens as context) the output's ``referring`` holds the first layer's logit of
    every text latent with every image token (``GatedCrossAttention.cell_logits``).
    """

    def __init__(self, cfg: FusionConfig, *, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__(cfg, width=width, heads=heads, mlp_ratio=mlp_ratio)
        n, h = cfg.num_tokens, self.heads
        # Separate learned queries for image and text [choice].
        self.image_resampler = build_resampler(cfg.resampling, width, h, n, mlp_ratio) if cfg.image_context == "latents" else None
        self.text_resampler = build_resampler(cfg.resampling, width, h, n, mlp_ratio) if cfg.text_context == "latents" else None
        self.fuse = nn.ModuleList(
            GatedCrossAttention(
                width,
                h,
                mlp_ratio,
                cfg.gate_init,
                match_scores=cfg.match_scores,
                match_count=cfg.match_count,
                match_where=cfg.match_where,
                position_queries=cfg.position_queries,
                match_roles=cfg.match_roles,
                match_direction=cfg.match_direction,
                match_tally=cfg.match_tally,
                match_same=cfg.match_same,
            )
            for _ in range(distinct_iterations(cfg))
        )
        self.refine = layer_stacks(cfg, width, h, mlp_ratio)
        self.combine_weights = nn.Parameter(torch.ones(max(0, cfg.iterations - 1)))
        self.norm = nn.LayerNorm(width)
        self.role = nn.Linear(width, 1) if cfg.match_roles else None  # c_i of each text token (match_roles)

    def _combine(self, t_n: torch.Tensor, fused: torch.Tensor, step: int) -> torch.Tensor:
        mode = self.cfg.combine
        if mode == "weighted":
            return t_n + self.combine_weights[step] * fused
        if mode == "residual":
            return t_n + fused
        return fused

    def forward(self, image: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor, image_index=None) -> FusionOutput:
        """See the class docstring for shapes. With ``image_index`` (see ``fusions.base``) the
        image resampler, which never sees the text, runs once per distinct image."""
        diag: dict[str, torch.Tensor] = {}
        if self.image_resampler is None:
            f_n, attn_img = image, None  # (Bi, M, D)
        else:
            f_n, attn_img = self.image_resampler(image, None, return_attn=self.return_attn)  # (Bi, N, D)
        f_n = rows_for_texts(f_n, image_index)  # (B, N or M, D)
        if attn_img is not None:
            attn_img = rows_for_texts(attn_img, image_index)  # (B, N, M)
        if self.text_resampler is None:
            t_n, attn_txt, mask = text, None, text_mask  # (B, L, D): the text tokens are the latents
        else:
            t_n, attn_txt = self.text_resampler(text, text_mask, return_attn=self.return_attn)  # (B, N, D)
            mask = None
        # Referring (ReferringConfig): each text query's logit with each image token, from the first
        # fusion layer's own projections (image_context tokens: one score per image cell).
        positional = self.cfg.match_where or self.cfg.position_queries
        where = grid_positions(f_n.shape[1], f_n.device) if positional else None  # (M, 2): the image grid
        # A first layer that reads match scores appends them to ``cells`` from its own q and k; else they are computed here.
        wants_cells = self.referring and self.image_resampler is None
        cells = [] if wants_cells and self.fuse[0].score is not None else None
        referring = self.fuse[0].cell_logits(t_n, f_n, where) if wants_cells and cells is None else None  # (B, N, M)
        roles = None
        if self.role is not None:  # text_context tokens: t_n is the text tokens, mask their mask
            roles = self.role(t_n).squeeze(-1) * mask.to(t_n.dtype)  # (B, L), 0 on padding
        t = t_n
        fused = t_n
        first: dict[str, torch.Tensor | None] = {}
        for i in range(self.cfg.iterations):
            fuse, layers = self.fuse[i % len(self.fuse)], self.refine[i % len(self.refine)]
            if i > 0:
                t = self._combine(t_n, fused, i - 1)
            logits_out = cells if i == 0 else None
            fused, attn = fuse(t, f_n, return_attn=self.return_attn, positions=where, roles=roles, query_mask=mask, logits_out=logits_out)
            if i == 0:  # the first layer's read-outs (a shared block overwrites them in later iterations)
                first = {"signed": fuse.signed, "asked": fuse.asked, "tally": fuse.tally, "agree": fuse.agree}
            for layer in layers:
                fused = layer(fused, mask)
            if attn is not None:
                diag[f"attn/fuse{i}"] = attn.detach()
        if attn_img is not None:
            diag["attn/image_resampler"] = attn_img.detach()
        if attn_txt is not None:
            diag["attn/text_resampler"] = attn_txt.detach()
        diag.update({f"gate/{k}": v for k, v in self.gate_values().items()})
        if cells:
            referring = cells[0]  # (B, N, M)
        if mask is None:
            mask = torch.ones(fused.shape[:2], dtype=torch.bool, device=fused.device)
        offset = first["signed"] if roles is not None else None  # (B, 2h): the first layer's signed read-out
        asked = first["asked"] if self.cfg.match_direction else None  # (B, L, asks, h)
        tally = first["tally"] if self.cfg.match_tally else None  # (B, L)
        agree = first["agree"] if self.cfg.match_same else None  # (B, A)
        return FusionOutput(self.norm(fused), mask, diag, referring, roles, offset, asked, tally, agree)
