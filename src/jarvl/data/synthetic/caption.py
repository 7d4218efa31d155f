"""Captioning: one sentence listing every object left to right.

"a large red circle, a small blue square and a small green triangle." The order is canonical
(by x), so scenes keep centres at least a few pixels apart in x to make that order visible.
"""

from __future__ import annotations

import random

from jarvl.data.synthetic.claims import Item
from jarvl.data.synthetic.config import SynthConfig
from jarvl.data.synthetic.language import a
from jarvl.data.synthetic.relations import margin
from jarvl.data.synthetic.scene import Filter, Obj, Scene, sample_scene

PROMPT = "describe the image."


def caption_text(objects: tuple[Obj, ...] | list[Obj]) -> str:
    """The canonical caption: objects by increasing x (then y), each "a <size> <color> <shape>"."""
    ordered = sorted(objects, key=lambda o: (o.x, o.y))
    parts = [a(Filter(o.size, o.color, o.shape)) for o in ordered]
    if len(parts) == 1:
        return parts[0] + "."
    return ", ".join(parts[:-1]) + " and " + parts[-1] + "."


def make_caption(rng: random.Random, cfg: SynthConfig, cond: str) -> Item:
    """A scene whose left-to-right order is clear, with its caption; family ``objects_<n>``."""
    gap = margin(cfg.image_size) // 2 + 1
    for _ in range(1000):
        scene: Scene = sample_scene(rng, cfg, cond)
        xs = sorted(o.x for o in scene.objects)
        if all(x2 - x1 >= gap for x1, x2 in zip(xs, xs[1:])):
            n = len(scene.objects)
            return Item(scene, PROMPT, caption_text(scene.objects), f"objects_{n}")
    raise ValueError("cannot spread the objects apart in x; raise image_size or lower max_objects")
