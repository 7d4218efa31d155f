"""The one fusion contract and the registry that names every fusion.

Every fusion maps (image tokens float[B, M, D], text tokens float[B, L, D], text mask bool[B, L])
to fused tokens float[B, K, D] with their mask bool[B, K], plus diagnostics, so swapping fusions
is a one-word config change and benchmarks compare them under identical encoders and decoder.

Several texts may share one image: with ``image_index`` long[B] (text b's row in ``image``), the
image tokens are float[Bi, M, D], one row per distinct image, and a fusion runs its question-free
image path (JAR's image resampler) once per image before taking each text's row with
:func:`rows_for_texts`. The result equals the call with the image repeated per text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from jarvl.blocks.config import FusionConfig
from jarvl.blocks.layers import TanhGate, TransformerLayer, tanh_gates
from jarvl.registry import Registry


@dataclass
class FusionOutput:
    """Fused tokens float[B, K, D], their mask bool[B, K] (True = real) and diagnostics.

    ``diagnostics`` holds detached tensors for inspection: gate values (``gate/...``, scalars) and,
    when asked for, attention maps of resamplers (``attn/...``, float[B, N, S]).
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    diagnostics: dict[str, torch.Tensor] = field(default_factory=dict)
    referring: torch.Tensor | None = None  # float[B, K, M]: each query's match logit with each image token (when ``Fusion.referring``)
    roles: torch.Tensor | None = None  # float[B, K]: each text token's role c_i (jar with ``match_roles``)
    offset: torch.Tensor | None = None  # float[B, 2h]: the first layer's signed where read-out, x then y per head
    asked: torch.Tensor | None = None  # float[B, K, asks, h]: the first layer's asked u per query (match_direction)
    tally: torch.Tensor | None = None  # float[B, K]: the first layer's tally per query, its logits detached (match_tally)
    agree: torch.Tensor | None = None  # float[B, A]: the first layer's sameness logits per attribute, contents detached (match_same)


class Fusion(nn.Module):
    """Base class: subclasses implement ``forward`` with the contract above."""

    def __init__(self, cfg: FusionConfig, *, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.cfg = cfg
        self.width = width
        self.heads = cfg.heads or heads
        self.mlp_ratio = mlp_ratio
        self.return_attn = False  # set True to collect attention maps in diagnostics
        self.referring = False  # set True (ReferringConfig) to return FusionOutput.referring; fusions that can say so

    def forward(
        self, image: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor, image_index: torch.Tensor | None = None
    ) -> FusionOutput:
        """float[B or Bi, M, D], float[B, L, D], bool[B, L], long[B] -> FusionOutput(float[B, K, D], bool[B, K])."""
        raise NotImplementedError

    def gates(self) -> dict[str, TanhGate]:
        """The tanh gates of this fusion (Eq. 3), by module name: every ``TanhGate`` it holds.

        The trainer reads them (``gate_mean_abs``) and the optimiser exempts their parameters
        from weight decay; a fusion with gated paths builds them from ``TanhGate``.
        """
        return tanh_gates(self)

    def gate_values(self) -> dict[str, torch.Tensor]:
        """tanh of every gate of this fusion, by module name (empty when it has no gates)."""
        return {name: torch.tanh(g.gate.detach()) for name, g in self.gates().items()}


def rows_for_texts(x: torch.Tensor, image_index: torch.Tensor | None) -> torch.Tensor:
    """float[Bi, ...] -> float[B, ...]: each text's image row (``x`` itself when ``image_index`` is None)."""
    return x if image_index is None else x.index_select(0, image_index)


def joint_sequence(image: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor, modality: torch.Tensor):
    """[image; text] tagged with modality embeddings ``modality`` float[2, D], and its key mask.

    float[B, M, D], float[B, L, D], bool[B, L] -> (float[B, M + L, D], bool[B, M + L]).
    """
    x = torch.cat([image + modality[0], text + modality[1]], dim=1)
    ones = torch.ones(image.shape[:2], dtype=torch.bool, device=image.device)
    return x, torch.cat([ones, text_mask], dim=1)


def layer_stacks(cfg: FusionConfig, width: int, heads: int, mlp_ratio: float) -> nn.ModuleList:
    """``cfg.iterations`` stacks of ``cfg.layers_per_iteration`` transformer layers (T(.) of Eq. 4); one
    stack with ``cfg.share_iterations`` (iteration i uses ``stacks[i % len(stacks)]``)."""
    return nn.ModuleList(
        nn.ModuleList(TransformerLayer(width, heads, mlp_ratio) for _ in range(cfg.layers_per_iteration))
        for _ in range(distinct_iterations(cfg))
    )


def distinct_iterations(cfg: FusionConfig) -> int:
    """How many iterations have their own weights: 1 with ``cfg.share_iterations``, else all of them."""
    return 1 if cfg.share_iterations else cfg.iterations


FUSIONS: Registry[type[Fusion]] = Registry("fusion")


def register_fusion(name: str) -> Callable[[type[Fusion]], type[Fusion]]:
    """Class decorator adding a fusion to the registry under ``name``."""

    def add(cls: type[Fusion]) -> type[Fusion]:
        cls.registry_name = name
        return FUSIONS.register(name, cls)

    return add


def list_fusions() -> list[str]:
    """Names of every registered fusion."""
    return FUSIONS.names()


def check_fusion_name(name: str) -> None:
    """Raise ValueError for a fusion name that is not registered, suggesting the closest one."""
    FUSIONS.check(name)


def resolved_gate_init(cfg: FusionConfig, *, pretrained: bool = False) -> float:
    """``cfg.gate_init``, or when it is None (auto) 1.0 from scratch and 0.0 beside a pretrained tower."""
    if cfg.gate_init is not None:
        return cfg.gate_init
    return 0.0 if pretrained else 1.0


def build_fusion(cfg: FusionConfig, *, width: int, heads: int, mlp_ratio: float = 4.0, pretrained: bool = False) -> Fusion:
    """Instantiate the fusion ``cfg.name``; an unknown name lists the valid ones. ``pretrained``: a tower
    starts from pretrained weights (the auto gate initialisation is then 0)."""
    cls = FUSIONS.get(cfg.name)
    return cls(replace(cfg, gate_init=resolved_gate_init(cfg, pretrained=pretrained)), width=width, heads=heads, mlp_ratio=mlp_ratio)
