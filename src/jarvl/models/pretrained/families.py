"""The pretrained tower families jarvl builds through ``transformers``, as data: one entry per ``model_type``.

An entry says which ``transformers`` class builds the tower, where its transformer blocks are
(``freeze: last_N`` and ``backbone_layers`` act on them), which modules follow the blocks, and the
names of its size fields. Families are chosen by the checkpoint's own ``model_type``, never by
guessing from which keys a config has. A two-tower checkpoint (CLIP, SigLIP) names its vision
part under ``vision_config``: ``tower_config`` takes it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from jarvl.models.pretrained.files import BackboneError


@dataclass(frozen=True)
class Family:
    """How to build and take apart one kind of ``transformers`` tower."""

    kind: Literal["vision", "text"]
    model_class: str  # a class of the transformers package
    blocks: str  # attribute path of the ModuleList of transformer blocks ("|" between alternatives)
    final: tuple[str, ...] = ()  # modules after the blocks (trainable with freeze: last_N)
    post: tuple[str, ...] = ()  # modules jarvl applies to last_hidden_state (CLIP's post_layernorm, on every token)
    depth_key: str = "num_hidden_layers"
    width_key: str = "hidden_size"
    heads_key: str = "num_attention_heads"
    mlp_key: str = "intermediate_size"
    init_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. no pooler: unused parameters break DDP
    config_overrides: dict[str, Any] = field(default_factory=dict)


_BERT = dict(kind="text", model_class="", blocks="encoder.layer", init_kwargs={"add_pooling_layer": False})
_T5 = dict(
    kind="text",
    model_class="T5EncoderModel",
    blocks="encoder.block",
    final=("encoder.final_layer_norm",),
    depth_key="num_layers",
    width_key="d_model",
    heads_key="num_heads",
    mlp_key="d_ff",
)

FAMILIES: dict[str, Family] = {
    "vit": Family(
        kind="vision", model_class="ViTModel", blocks="layers|encoder.layer", final=("layernorm",), init_kwargs={"add_pooling_layer": False}
    ),
    # CLIP's last_hidden_state precedes post_layernorm, which only its pooled output uses: jarvl
    # applies it to every token (as open_clip's ln_post), so no parameter is left without a gradient.
    "clip_vision_model": Family(
        kind="vision", model_class="CLIPVisionModel", blocks="encoder.layers", final=("post_layernorm",), post=("post_layernorm",)
    ),
    "siglip_vision_model": Family(
        kind="vision",
        model_class="SiglipVisionModel",
        blocks="encoder.layers",
        final=("post_layernorm",),
        config_overrides={"vision_use_head": False},
    ),
    "bert": Family(**{**_BERT, "model_class": "BertModel"}),
    "roberta": Family(**{**_BERT, "model_class": "RobertaModel"}),
    "xlm-roberta": Family(**{**_BERT, "model_class": "XLMRobertaModel"}),
    "t5": Family(**_T5),
    "mt5": Family(**{**_T5, "model_class": "MT5EncoderModel"}),
}

# Two-tower checkpoints: the vision tower's config sits under this key.
_VISION_PARTS = {"clip": "vision_config", "siglip": "vision_config"}


def tower_config(raw: dict[str, Any], kind: str, where: str) -> dict[str, Any]:
    """The config dict of the ``kind`` tower of a checkpoint's ``config.json`` (``where`` names it in errors)."""
    model_type = raw.get("model_type", "")
    if kind == "vision" and model_type in _VISION_PARTS:
        sub = dict(raw.get(_VISION_PARTS[model_type]) or {})
        sub.setdefault("model_type", f"{model_type}_vision_model")
        raw, model_type = sub, sub["model_type"]
    family = FAMILIES.get(model_type)
    if family is None or family.kind != kind:
        known = sorted(t for t, f in FAMILIES.items() if f.kind == kind) + (sorted(_VISION_PARTS) if kind == "vision" else [])
        raise BackboneError(
            f"{where}: model_type {model_type or '(none)'!r} is not a {kind} tower jarvl builds (supported: {', '.join(known)})"
        )
    return raw


def family_of(hf_config: dict[str, Any]) -> Family:
    """The family of a tower config (as ``tower_config`` returns it)."""
    return FAMILIES[hf_config["model_type"]]
