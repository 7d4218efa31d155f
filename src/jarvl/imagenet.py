"""ImageNet's per-channel statistics (0-255 scale): the built-in ViT's input normalisation.

A pretrained vision tower takes its own from its checkpoint's preprocessor config. Defined once,
here, below both the data layer (``collate.image_tensor``) and the model configs (``VisionConfig``).
"""

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
