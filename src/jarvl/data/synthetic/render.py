"""Draw a ``Scene`` into pixels with numpy: one cached boolean stencil per (shape, half extent)."""

from __future__ import annotations

from functools import cache

import numpy as np

from jarvl.data.synthetic.config import BACKGROUND, COLORS
from jarvl.data.synthetic.scene import Scene, half_extent


@cache
def stencil(shape: str, r: int) -> np.ndarray:
    """bool[2r+1, 2r+1, 3] mask of ``shape`` centred in its bounding box of half side ``r``."""
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    if shape == "circle":
        mask = dx * dx + dy * dy <= r * r + r  # "+ r" rounds the rim like a rasterised disc
    elif shape == "square":
        h = round(0.85 * r)  # about the area of the circle of radius r
        mask = (np.abs(dx) <= h) & (np.abs(dy) <= h)
    elif shape == "triangle":
        mask = np.abs(dx) <= (dy + r) * 0.5 + 0.5  # apex up, base 2r + 1 wide
    else:
        raise ValueError(f"unknown shape {shape!r}")
    mask = np.repeat(mask[:, :, None], 3, axis=2)  # per channel: np.copyto is fastest with it
    mask.setflags(write=False)
    return mask


@cache
def _background(image_size: int) -> np.ndarray:
    image = np.empty((image_size, image_size, 3), dtype=np.uint8)
    image[:] = BACKGROUND  # broadcasting a tuple is slow; done once per size
    image.setflags(write=False)
    return image


_RGB = {name: np.array(rgb, dtype=np.uint8) for name, rgb in COLORS.items()}


def render_scene(scene: Scene) -> np.ndarray:
    """Pixels of ``scene``: uint8[S, S, 3] RGB, objects painted over a flat background."""
    s = scene.image_size
    image = _background(s).copy()
    for o in scene.objects:
        r = half_extent(o.size, s)
        patch = image[o.y - r : o.y + r + 1, o.x - r : o.x + r + 1]
        np.copyto(patch, _RGB[o.color], where=stencil(o.shape, r))
    return image
