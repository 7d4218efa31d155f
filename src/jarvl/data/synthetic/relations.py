"""Spatial relations between objects, defined only where they are visually unambiguous.

Image coordinates: x grows to the right, y grows downwards ("above" means smaller y). A relation
between two centres holds when they differ by at least ``margin`` pixels along its axis, fails when
they differ by at least ``margin`` the other way, and is undefined (None) in between.
"""

from __future__ import annotations

import math

from jarvl.data.synthetic.scene import Obj, Scene

# relation -> (axis, sign): "a left of b" means b.x - a.x >= margin.
RELATIONS = {"left of": ("x", 1), "right of": ("x", -1), "above": ("y", 1), "below": ("y", -1)}


def margin(image_size: int) -> int:
    """Minimum centre offset (pixels) for a relation to count as clear (5 px at 64 px)."""
    return max(2, round(0.08 * image_size))


def holds(a: Obj, b: Obj, relation: str, image_size: int) -> bool | None:
    """Whether ``a`` is ``relation`` ``b`` ("left of", ...); None when too close to call."""
    axis, sign = RELATIONS[relation]
    d = sign * (getattr(b, axis) - getattr(a, axis))
    m = margin(image_size)
    return True if d >= m else False if d <= -m else None


def unique_related(scene: Scene, ref: int, relation: str) -> int | None:
    """The one object clearly ``relation`` object ``ref`` ("nearest to" included), else None.

    Well defined only when exactly one object is clearly related and every other is clearly not:
    for directions the others must lie on the ref's far side; for "nearest to" the runner-up must be
    at least a margin farther away.
    """
    objs, r, m = scene.objects, scene.objects[ref], margin(scene.image_size)
    others = [i for i in range(len(objs)) if i != ref]
    if not others:
        return None
    if relation == "nearest to":
        dist = sorted((math.dist((objs[i].x, objs[i].y), (r.x, r.y)), i) for i in others)
        return dist[0][1] if len(dist) == 1 or dist[1][0] - dist[0][0] >= m else None
    axis, sign = RELATIONS[relation]
    offsets = [(sign * (getattr(r, axis) - getattr(objs[i], axis)), i) for i in others]
    hits = [i for d, i in offsets if d >= m]
    if len(hits) != 1 or any(0 < d < m for d, _ in offsets):
        return None
    return hits[0]
