"""Models: encoders, fusions (``jar`` and the baselines), decoder, the full model, presets and weights I/O."""

from jarvl.blocks.config import DecoderConfig, FusionConfig, ModelConfig, TextConfig, VisionConfig
from jarvl.models.fusions import FusionOutput, build_fusion, list_fusions
from jarvl.models.model import JARVLModel, ModelOutput
from jarvl.models.presets import build_model, get_preset, list_presets
from jarvl.models.weights import WeightsError, load_model, save_model

__all__ = [
    "DecoderConfig",
    "FusionConfig",
    "FusionOutput",
    "JARVLModel",
    "ModelConfig",
    "ModelOutput",
    "TextConfig",
    "VisionConfig",
    "WeightsError",
    "build_fusion",
    "build_model",
    "get_preset",
    "list_fusions",
    "list_presets",
    "load_model",
    "save_model",
]
