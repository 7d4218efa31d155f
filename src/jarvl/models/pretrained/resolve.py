"""Fill a model config in from its backbone directories, once, before any model is built.

``resolve_backbones`` reads each configured backbone's ``config.json`` (and a vision tower's
``preprocessor_config.json``) and writes into the tower config what the checkpoint decides: the
architecture (``hf_config``, width, depth, heads, mlp_ratio, patch_size) and the image
preprocessing (image_size, mean, std, crop). A resolved config is self-contained: it is saved in
every checkpoint and rebuilds the towers without the directories (``eval``, ``predict``, resume).
The text vocabulary and special ids are the tokenizer's business (``jarvl.train.run_tokenizer``).
"""

from __future__ import annotations

import copy
from typing import Any

from jarvl.blocks.config import ModelConfig, TextConfig, VisionConfig
from jarvl.models.pretrained.families import family_of, tower_config
from jarvl.models.pretrained.files import CONFIG, PREPROCESSOR, TOKENIZER, BackboneError, check_dir, read_json
from jarvl.models.pretrained.tower import architecture_dict, hf_config_object

# The fields resolution writes, per tower (what a resumed run takes from its checkpoint).
RESOLVED = {
    "vision": ("hf_config", "width", "depth", "heads", "mlp_ratio", "patch_size", "image_size", "mean", "std", "crop"),
    "text": ("hf_config", "width", "depth", "heads", "mlp_ratio"),
}


def resolve_backbones(cfg: ModelConfig, stored: ModelConfig | None = None) -> ModelConfig:
    """Resolve every backbone of ``cfg`` in place (a no-op for towers already resolved); returns ``cfg``.

    With ``stored`` (the config in a checkpoint being resumed), a tower with the same backbone
    and ``backbone_layers`` takes the stored resolution instead of reading the directory again,
    so resuming needs only the run directory.
    """
    for kind in ("vision", "text"):
        tower = getattr(cfg, kind)
        if not tower.backbone:
            continue
        old = getattr(stored, kind) if stored is not None else None
        if old is not None and old.hf_config and (old.backbone, old.backbone_layers) == (tower.backbone, tower.backbone_layers):
            for name in RESOLVED[kind]:
                setattr(tower, name, copy.deepcopy(getattr(old, name)))
        elif not tower.hf_config:
            (resolve_vision if kind == "vision" else resolve_text)(tower)
    return cfg.validate()


def kept_layers(total: int, backbone_layers: int, key: str) -> int:
    """Blocks to run of ``total``: 0 all, k > 0 the first k, k < 0 all but the last -k."""
    kept = total if backbone_layers == 0 else backbone_layers if backbone_layers > 0 else total + backbone_layers
    if not 1 <= kept <= total:
        raise BackboneError(f"{key}: backbone_layers={backbone_layers} leaves {kept} of the tower's {total} layers (need 1..{total})")
    return kept


def _tower(path: str, kind: str, key: str) -> tuple[Any, dict[str, Any]]:
    root = check_dir(path, key)
    raw = tower_config(read_json(root / CONFIG, key), kind, f"{key}={path}")
    return root, architecture_dict(hf_config_object(raw))


def _architecture(tower: VisionConfig | TextConfig, arch: dict[str, Any], key: str) -> None:
    family = family_of(arch)
    depth = kept_layers(int(arch[family.depth_key]), tower.backbone_layers, f"model.{key}")
    tower.hf_config = {**arch, **family.config_overrides, family.depth_key: depth}
    tower.width, tower.depth, tower.heads = int(arch[family.width_key]), depth, int(arch[family.heads_key])
    tower.mlp_ratio = arch[family.mlp_key] / tower.width


def resolve_vision(v: VisionConfig) -> None:
    """Architecture from ``config.json``, preprocessing from ``preprocessor_config.json``."""
    key = "model.vision.backbone"
    root, arch = _tower(v.backbone, "vision", key)
    if not (root / PREPROCESSOR).is_file():
        raise BackboneError(
            f"{key}={v.backbone}: no {PREPROCESSOR} here; the image size, mean and std come from the "
            f"checkpoint's own preprocessor config (save its image processor with save_pretrained)"
        )
    pre = read_json(root / PREPROCESSOR, key)
    _architecture(v, arch, "vision.backbone")
    v.patch_size = int(arch["patch_size"])
    v.image_size, v.crop = image_size(pre, f"{key}={v.backbone}")
    if pre.get("do_normalize", True):
        v.mean = [255.0 * float(m) for m in pre.get("image_mean", (0.5, 0.5, 0.5))]
        v.std = [255.0 * float(s) for s in pre.get("image_std", (0.5, 0.5, 0.5))]
    else:
        v.mean, v.std = [0.0] * 3, [255.0] * 3  # rescaled to [0, 1] only


def image_size(pre: dict[str, Any], where: str) -> tuple[int, bool]:
    """(square input size, centre-crop?) from a preprocessor config's ``size`` / ``crop_size``."""
    crop = bool(pre.get("do_center_crop", False))
    size = pre.get("crop_size") if crop else pre.get("size")
    if isinstance(size, int):
        return size, crop
    if isinstance(size, dict):
        if "height" in size and "width" in size:
            if size["height"] != size["width"]:
                raise BackboneError(f"{where}: non-square input {size['height']}x{size['width']} (jarvl feeds square images)")
            return int(size["height"]), crop
        if "shortest_edge" in size:
            return int(size["shortest_edge"]), True
    raise BackboneError(f"{where}: {PREPROCESSOR} has no usable size ({size!r})")


def resolve_text(t: TextConfig) -> None:
    """Architecture from ``config.json``; the directory must hold the tower's ``tokenizer.json``."""
    key = "model.text.backbone"
    root, arch = _tower(t.backbone, "text", key)
    if not (root / TOKENIZER).is_file():
        raise BackboneError(f"{key}={t.backbone}: no {TOKENIZER} here; a text tower is trained with its own tokenizer")
    _architecture(t, arch, "text.backbone")
    limit = arch.get("max_position_embeddings")
    if limit and arch["model_type"] in ("roberta", "xlm-roberta"):
        limit -= int(arch.get("pad_token_id", 1)) + 1  # RoBERTa's positions start after the padding index
    if limit and t.max_len > limit:
        raise BackboneError(f"model.text.max_len={t.max_len} exceeds the backbone's {limit} positions ({t.backbone})")
