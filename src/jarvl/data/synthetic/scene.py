"""Scenes with exact ground truth: objects, attribute filters and constrained scene sampling.

Question generators pick the question and its answer first and then ask for a scene that makes the
answer true (``forced`` objects that must exist, ``forbid`` filters no other object may match).
That keeps the answer independent of the question text, so a language prior is weak.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from functools import cache

import numpy as np

from jarvl.data.synthetic.config import CONDITIONS, SHAPES, SIZES, SynthConfig

ATTRIBUTES = ("size", "color", "shape")
GAP = 1  # free pixels kept between the bounding boxes of two objects


class Infeasible(Exception):
    """The requested constraints cannot hold under the scene's condition; pick another question."""


@dataclass(frozen=True)
class Obj:
    """One object: its attributes and the integer pixel position of its centre (x right, y down)."""

    shape: str
    color: str
    size: str
    x: int = 0
    y: int = 0


@dataclass(frozen=True)
class Filter:
    """A partial description of an object ("the large red ..."); ``None`` slots match anything."""

    size: str | None = None
    color: str | None = None
    shape: str | None = None

    def matches(self, obj: Obj | Filter) -> bool:
        """True when every slot this filter sets equals the object's attribute."""
        # Spelled out: the scene sampler calls this for every candidate object (the data loader's hot loop).
        return (
            (self.size is None or self.size == obj.size)
            and (self.color is None or self.color == obj.color)
            and (self.shape is None or self.shape == obj.shape)
        )

    def slots(self) -> tuple[str, ...]:
        """The attribute names this filter sets."""
        return tuple(a for a in ATTRIBUTES if getattr(self, a) is not None)

    def disjoint(self, other: Filter) -> bool:
        """True when no object can match both filters (they disagree on a shared slot)."""
        return any(
            getattr(self, a) is not None and getattr(other, a) is not None and getattr(self, a) != getattr(other, a) for a in ATTRIBUTES
        )

    def with_(self, **slots: str) -> Filter:
        """A copy with some slots set."""
        return replace(self, **slots)


@dataclass(frozen=True)
class Scene:
    """Ground truth of one image: its objects and the compositional condition it was drawn under."""

    objects: tuple[Obj, ...]
    image_size: int
    condition: str

    def count(self, f: Filter) -> int:
        """How many objects match ``f``."""
        return sum(f.matches(o) for o in self.objects)

    def find(self, f: Filter) -> list[int]:
        """Indices of the objects matching ``f``."""
        return [i for i, o in enumerate(self.objects) if f.matches(o)]


def allowed(shape: str, color: str, condition: str) -> bool:
    """Whether ``shape`` may take ``color`` under ``condition``."""
    return color in CONDITIONS[condition][shape]


def possible(f: Filter, condition: str, avoid: tuple[Filter, ...] = ()) -> bool:
    """Whether some object can match ``f`` and none of ``avoid`` under ``condition``."""
    return bool(_completions(f, avoid, condition)[0])


def half_extent(size: str, image_size: int) -> int:
    """Half the side of the object's bounding box in pixels (5 / 8 at 64 px)."""
    small = max(2, round(0.08 * image_size))
    return small if size == "small" else max(small + 2, round(0.13 * image_size))


@cache
def _completions(f: Filter, avoid: tuple[Filter, ...], condition: str) -> tuple[tuple[Obj, ...], tuple[float, ...]]:
    # Weights make the free distribution uniform over shapes and sizes, then over allowed colours.
    objs, cum, total = [], [], 0.0
    for shape in SHAPES:
        colors = CONDITIONS[condition][shape]
        for color in colors:
            for size in SIZES:
                o = Obj(shape, color, size)
                if f.matches(o) and not any(a.matches(o) for a in avoid):
                    total += 1.0 / len(colors)
                    objs.append(o)
                    cum.append(total)
    return tuple(objs), tuple(cum)


def complete(rng: random.Random, f: Filter, avoid: tuple[Filter, ...], condition: str) -> Obj:
    """Draw an object matching ``f`` and none of ``avoid`` (position unset); Infeasible if none."""
    objs, cum = _completions(f, avoid, condition)
    if not objs:
        raise Infeasible(f"no object matches {f} while avoiding {avoid} under {condition}")
    return rng.choices(objs, cum_weights=cum)[0]


def _refines(f: Filter, g: Filter) -> bool:
    return all(getattr(f, a) == getattr(g, a) for a in g.slots())


def sample_scene(
    rng: random.Random,
    cfg: SynthConfig,
    condition: str,
    forced: tuple[Filter, ...] = (),
    forbid: tuple[Filter, ...] = (),
    n: int | None = None,
) -> Scene:
    """Draw a scene with one object per ``forced`` filter and no other object matching ``forbid``.

    A forced object may match a forbidden filter only when it refines it (forced "large red circle"
    with forbidden "red circle" is the unique red circle). ``n`` (default: uniform in
    ``[max(min_objects, len(forced)), max_objects]``) is the number of objects.
    """
    if n is None:
        n = rng.randint(max(cfg.min_objects, len(forced)), max(cfg.max_objects, len(forced)))
    objs = [complete(rng, f, tuple(g for g in forbid if not _refines(f, g)), condition) for f in forced]
    objs += [complete(rng, Filter(), tuple(forbid), condition) for _ in range(n - len(objs))]
    rng.shuffle(objs)
    return Scene(place(rng, objs, cfg.image_size), cfg.image_size, condition)


def fits(objs: tuple[Obj, ...] | list[Obj], image_size: int) -> bool:
    """True when every object lies inside the image and no two bounding boxes overlap."""
    boxes = [(o.x, o.y, half_extent(o.size, image_size)) for o in objs]
    for i, (x, y, r) in enumerate(boxes):
        if min(x, y) < r + 1 or max(x, y) > image_size - 2 - r:
            return False
        for x2, y2, r2 in boxes[:i]:
            if abs(x - x2) <= r + r2 + GAP and abs(y - y2) <= r + r2 + GAP:
                return False
    return True


def place(rng: random.Random, objs: list[Obj], image_size: int) -> tuple[Obj, ...]:
    """Give each object a position, uniform over the spots where its box overlaps no earlier box.

    One grid of allowed centres per size is kept up to date, so even a crowded scene is laid out
    without blind rejection; a rare dead end restarts the layout.
    """
    order = sorted(range(len(objs)), key=lambda i: objs[i].size != "large")  # large ones first
    extent = {size: half_extent(size, image_size) for size in SIZES}
    for _ in range(100):
        free = {}  # size -> bool[y, x]: a centre there keeps that size clear of placed objects
        for size, r in extent.items():
            free[size] = np.zeros((image_size, image_size), dtype=bool)
            free[size][r + 1 : image_size - 1 - r, r + 1 : image_size - 1 - r] = True
        placed: dict[int, tuple[int, int]] = {}
        for i in order:
            spots = np.flatnonzero(free[objs[i].size])
            if not len(spots):
                break
            y, x = divmod(int(spots[rng.randrange(len(spots))]), image_size)
            placed[i] = (x, y)
            for size, grid in free.items():
                d = extent[objs[i].size] + extent[size] + GAP
                grid[max(0, y - d) : y + d + 1, max(0, x - d) : x + d + 1] = False
        if len(placed) == len(objs):
            return tuple(Obj(o.shape, o.color, o.size, *placed[i]) for i, o in enumerate(objs))
    raise ValueError(f"cannot place {len(objs)} objects without overlap in a {image_size}px image; lower max_objects or raise image_size")
