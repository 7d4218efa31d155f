"""Pretrained image and text towers from local Hugging Face directories (through ``transformers``).

``resolve_backbones`` fills a config in from the directories; ``PretrainedVisionTower`` and
``PretrainedTextTower`` follow the built-in encoders' contracts; ``load_pretrained_towers`` copies
the checkpoints' weights into a freshly built model. Nothing is downloaded; weights come from
safetensors only.
"""

from jarvl.models.pretrained.files import BackboneError
from jarvl.models.pretrained.resolve import resolve_backbones

__all__ = ["BackboneError", "load_pretrained_towers", "resolve_backbones"]


def load_pretrained_towers(model) -> list[str]:
    """Load the backbone weights into every pretrained tower of ``model``; returns the directories read."""
    from jarvl.models.pretrained.tower import PretrainedTower

    loaded = []
    for tower in (model.image_encoder, model.text_encoder):
        if isinstance(tower, PretrainedTower):
            tower.load_pretrained()
            loaded.append(tower.backbone)
    return loaded
