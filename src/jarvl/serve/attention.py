"""A fusion's attention diagnostics as maps over the image-token grid, for drawing on the image.

What each fusion gives (``return_attn``), and how it reaches the image tokens:

* ``attn/image_resampler`` (JAR): the N image latents over the M image tokens (PAPER.md Eq. 2);
  question-free, one set per image.
* ``attn/fuse{i}`` (JAR): the N fused tokens of iteration i over the image context of Eq. 3. With
  the image resampler that context is its N latents, so the map over the image is the product
  ``fuse @ image_resampler`` (attention rolled out through the resampler); with
  ``image_context=tokens`` it is already over the M image tokens.
* ``attn/cross{i}`` (cross_attention: text tokens; perceiver: latents) and ``attn/tokenlearner{i}``
  (cotokenization): over the M image tokens, or over the joint [image; text] sequence, whose
  first M columns are the image's (renormalised here).
* concat gives none; ``attn/text_resampler`` is over the text and is not drawn.
"""

from __future__ import annotations

import math
import re

import torch

_FUSE = re.compile(r"attn/fuse(\d+)$")
_OTHER = re.compile(r"attn/(cross|tokenlearner)(\d+)$")


def image_grid(m: int) -> tuple[int, int] | None:
    """(first image-token column, grid side g) for M image tokens: a g x g grid, after a leading class
    token when M = g^2 + 1 (ViT, CLIP); None when the tokens form no square grid."""
    for skip in (0, 1):
        g = math.isqrt(m - skip)
        if g > 0 and g * g == m - skip:
            return skip, g
    return None


def _to_grid(maps: torch.Tensor, m: int, start: int, g: int) -> list:
    """float[..., >= M] -> nested lists float[..., g*g]: the image columns, each row summing to 1."""
    maps = maps[..., start:m].float()
    maps = maps / maps.sum(-1, keepdim=True).clamp_min(1e-12)
    return maps.reshape(*maps.shape[:-1], g * g).double().mul(1e4).round().div(1e4).tolist()  # 4 decimals


def image_maps(diag: dict[str, torch.Tensor], mask: torch.Tensor, num_image_tokens: int, fusion: str) -> dict:
    """Maps over the image of every attention a fusion reported, for B questions about one image.

    ``diag``: ``attn/...`` float[B, rows, S]; ``mask`` bool[B, K] of the fused tokens (rows of a
    map that are masked-out text tokens are dropped). Returns ``{"grid": g, "layers": [...],
    "notes": [...]}``; each layer has ``key``, ``title``, ``per_question`` and ``maps``:
    float[rows][g*g] when question-free, else one such list per question.
    """
    m = num_image_tokens
    found = image_grid(m)
    notes: list[str] = []
    if found is None:
        return {"grid": 0, "layers": [], "notes": [f"the {m} image tokens form no square grid: no maps to draw"]}
    start, g = found
    resampler = diag.get("attn/image_resampler")
    layers = []
    if resampler is not None:
        # Question-free: the same for every question about the image; the first row stands for all.
        layers.append({"key": "attn/image_resampler", "title": "image resampler tokens (Eq. 2)",
                       "per_question": False, "maps": _to_grid(resampler[0], m, start, g)})  # fmt: skip
    for key in sorted(diag, key=lambda k: (len(k), k)):
        value = diag[key]
        if (hit := _FUSE.match(key)) is not None:
            i = int(hit.group(1))
            if resampler is not None:
                value = value @ resampler  # (B, N, N) @ (B, N, M): through the image resampler
                title = f"fused tokens, iteration {i + 1} (through the image resampler)"
            else:
                title = f"fused tokens, iteration {i + 1} (over the image tokens)"
        elif (hit := _OTHER.match(key)) is not None:
            kind, i = hit.group(1), int(hit.group(2))
            who = {"cross_attention": "text tokens", "perceiver": "latents"}.get(fusion, "tokens")
            title = f"{'tokenlearner tokens' if kind == 'tokenlearner' else who}, layer {i + 1} (image columns)"
        else:
            continue
        if value.shape[-1] < m:
            continue
        rows = [_to_grid(value[b][mask[b]] if value.shape[1] == mask.shape[1] else value[b], m, start, g)
                for b in range(value.shape[0])]  # fmt: skip
        layers.append({"key": key, "title": title, "per_question": True, "maps": rows})
    if resampler is None:
        if fusion == "jar":
            notes.append("this JAR model has no image resampler (fusion.image_context=tokens): "
                         "only the fused tokens' maps over the image tokens exist")  # fmt: skip
        elif not layers:
            notes.append(f"the {fusion} fusion reports no attention maps over the image")
        else:
            notes.append(f"the {fusion} fusion has no image resampler: its own attention over the image is shown")
    if start:
        notes.append("the class token's column is left out")
    return {"grid": g, "layers": layers, "notes": notes}
