"""The part every pretrained tower shares: build a ``transformers`` module from a stored config, load
its safetensors weights from a local directory, and name the blocks that freezing acts on.

``transformers`` is an optional dependency (``pip install 'jarvl[hf]'``), imported only here and
only when a backbone is configured.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from jarvl.models.pretrained.families import Family, family_of
from jarvl.models.pretrained.files import BackboneError, check_dir

# Bookkeeping keys of a config.json that do not shape the architecture (left out of hf_config).
_NOT_ARCHITECTURE = (
    "_name_or_path",
    "transformers_version",
    "architectures",
    "dtype",
    "torch_dtype",
    "return_dict",
    "output_hidden_states",
    "output_attentions",
    "id2label",
    "label2id",
    "problem_type",
)


def transformers_module():
    """The ``transformers`` package, or a BackboneError saying how to install it."""
    try:
        import transformers
    except ImportError:
        raise BackboneError("pretrained backbones need the optional dependency transformers: pip install 'jarvl[hf]'") from None
    return transformers


def hf_config_object(hf_config: dict[str, Any]):
    """A ``transformers`` config object from a config dict (``model_type`` selects its class)."""
    tf = transformers_module()
    data = {k: v for k, v in hf_config.items() if k != "model_type"}
    return tf.AutoConfig.for_model(hf_config["model_type"], **data)


def architecture_dict(config) -> dict[str, Any]:
    """A config object as the plain dict stored in ``hf_config`` (bookkeeping keys left out)."""
    return {k: v for k, v in config.to_dict().items() if k not in _NOT_ARCHITECTURE}


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bars (jarvl reports problems itself)."""
    tf = transformers_module()
    level = tf.logging.get_verbosity()
    tf.logging.set_verbosity_error()
    tf.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        tf.logging.set_verbosity(level)
        tf.utils.logging.enable_progress_bar()


def submodule(module: nn.Module, paths: str) -> nn.Module:
    """``module``'s submodule at the first of the ``|``-separated dotted ``paths`` that exists.

    Versions of transformers place blocks differently (ViT: ``layers`` in 5.x, ``encoder.layer``
    in 4.x; 4.x nests CLIP's vision tower under ``vision_model``), so each path is also tried there.
    """
    for path in paths.split("|"):
        for prefix in ("", "vision_model."):
            try:
                return module.get_submodule(prefix + path)
            except AttributeError:
                continue
    raise AttributeError(f"{type(module).__name__} has no submodule {paths!r}")


class PretrainedTower(nn.Module):
    """A ``transformers`` tower built from ``hf_config`` (random weights until ``load_pretrained``).

    Subclasses define ``forward``. ``model`` is the transformers module; ``freeze_parts`` names
    its blocks and the modules after them for ``jarvl.models.freeze``.
    """

    def __init__(self, hf_config: dict[str, Any], backbone: str, key: str) -> None:
        super().__init__()
        if not hf_config:
            raise ValueError(f"{key}: the backbone is not resolved (call jarvl.models.pretrained.resolve_backbones first)")
        self.family: Family = family_of(hf_config)
        self.backbone, self.key = backbone, key
        tf = transformers_module()
        config = hf_config_object(hf_config)
        self.model = getattr(tf, self.family.model_class)(config, **self.family.init_kwargs)

    def post_modules(self) -> list[nn.Module]:
        """The modules jarvl applies to ``last_hidden_state`` (see ``Family.post``), in order."""
        return [submodule(self.model, name) for name in self.family.post]

    def freeze_parts(self) -> tuple[list[nn.Module], list[nn.Module]]:
        """(the transformer blocks in order, the modules after them)."""
        blocks = list(submodule(self.model, self.family.blocks))
        return blocks, [submodule(self.model, name) for name in self.family.final]

    def load_pretrained(self) -> None:
        """Copy the weights of ``backbone`` (safetensors only, local files only) into this tower.

        Raises BackboneError when the directory does not hold every weight of the tower.
        """
        root = check_dir(self.backbone, self.key)
        tf = transformers_module()
        cls = getattr(tf, self.family.model_class)
        with quiet_transformers():
            try:
                loaded, info = cls.from_pretrained(
                    str(root),
                    config=self.model.config,
                    local_files_only=True,
                    use_safetensors=True,
                    output_loading_info=True,
                    dtype=torch.float32,
                    **self.family.init_kwargs,
                )
            except (OSError, ValueError, RuntimeError) as err:
                raise BackboneError(f"{self.key}={self.backbone}: cannot load the weights: {err}") from None
        missing = sorted(info.get("missing_keys") or [])
        mismatched = list(info.get("mismatched_keys") or [])
        if missing or mismatched:
            what = f"lacks {len(missing)} weights, e.g. {missing[:3]}" if missing else f"has mis-shaped weights {mismatched[:3]}"
            raise BackboneError(f"{self.key}={self.backbone}: the checkpoint {what} of a {self.family.model_class}")
        self.model.load_state_dict(loaded.state_dict())
