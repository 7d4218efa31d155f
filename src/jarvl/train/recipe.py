"""Named recipes: model settings laid under an experiment, beneath everything it sets itself.

``paper``: the library's defaults, the paper's plain JAR (Eq. 2-4 as written). ``learns``: what
makes a from-scratch model answer from the image (issue #11, docs/recipe.md,
benchmarks/results/learn_to_see.cpu.md): the match read-outs, Eq. 3 on the image tokens and the
text tokens, the grounding and referring objectives, and the spatial read-outs with their targets
(where, referent roles, the asked direction) and the tally of each word's matches (count comparisons).
``jarvl train`` starts from ``learns``; the demo's YAML (``configs/demo.yaml``) spells the same settings out. A recipe fills only the keys the
experiment leaves unset, and drops an objective it supplied that the model cannot carry (referring
on a fusion without JAR's text-to-image-token cross-attention, either objective beside a pretrained
vision tower), where the same key set by hand is an error. The gates stay on auto (``gate_init``:
open from scratch, closed beside a pretrained tower).
"""

from __future__ import annotations

import copy
from typing import Any

from jarvl.blocks.config import ModelConfig, without_unfit_referring
from jarvl.config import ConfigError, flatten_dict

# Colours, shapes and sizes of the synthetic scenes: records without ``meta["objects"]`` (real data
# without region annotations) add nothing to the grounding objective; set model.grounding.labels for yours.
_SYNTHETIC_LABELS = {
    "color": ["red", "green", "blue", "yellow", "purple", "cyan", "orange", "brown"],
    "shape": ["circle", "square", "triangle"],
    "size": ["small", "large"],
}

RECIPES: dict[str, dict[str, Any]] = {
    "paper": {},
    "learns": {
        "fusion": {
            "match_scores": True,
            "match_count": True,
            "image_context": "tokens",
            "text_context": "tokens",
            "match_where": True,
            "match_roles": True,
            "match_direction": True,
            "match_tally": True,
        },
        "grounding": {"weight": 1.0, "labels": _SYNTHETIC_LABELS},
        "referring": {"weight": 3.0, "phrases": 3.0, "roles": 1.0, "directions": 1.0},
    },
}


def recipe_keys(name: str) -> dict[str, Any]:
    """The model settings of recipe ``name`` as dotted keys under ``model.`` (``fusion.match_scores``)."""
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    out = flatten_dict(RECIPES[name])
    for key in [k for k in out if k.startswith("grounding.labels.")]:  # labels are one value, not a key per attribute
        out.setdefault("grounding.labels", {})[key.removeprefix("grounding.labels.")] = out.pop(key)
    return out


def unset_recipe_keys(name: str, explicit: set[str]) -> dict[str, Any]:
    """The settings of recipe ``name`` the experiment did not set (``explicit``: dotted model keys)."""
    return {k: v for k, v in recipe_keys(name).items() if not any(k == e or e.startswith(k + ".") for e in explicit)}


def fit_recipe(model: ModelConfig, supplied: dict[str, Any]) -> ModelConfig:
    """``model`` (changed in place) less the objectives and read-outs the recipe ``supplied`` that it
    cannot carry (``without_unfit_referring``; referring, grounding and the position read-outs beside a
    pretrained vision tower)."""
    if model.vision.backbone:  # its tokens are not the built-in image grid the cell targets and positions name
        for key in ("referring.weight", "referring.phrases", "grounding.weight"):
            if key in supplied:
                _set(model, key, 0.0)
        for key in ("fusion.match_where", "fusion.position_queries"):
            if key in supplied:
                _set(model, key, False)
    fitted = without_unfit_referring(copy.deepcopy(model))
    for key in supplied:
        if key.startswith(("fusion.", "referring.")) and _get(fitted, key) != _get(model, key):
            _set(model, key, _get(fitted, key))
    return model


def _get(model: ModelConfig, key: str) -> Any:
    section, name = key.split(".", 1)
    return getattr(getattr(model, section), name)


def _set(model: ModelConfig, key: str, value: Any) -> None:
    section, name = key.split(".", 1)
    setattr(getattr(model, section), name, value)
