"""Yes/no claims about a scene, each drawn for a truth value chosen beforehand.

Every generator takes ``yes`` and returns a scene in which the claim has exactly that truth value,
as a question ("is there a red circle?") for VQA and a statement ("there is a red circle.") for
entailment. Choosing the truth first keeps it independent of the words of the claim.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

from jarvl.data.synthetic.config import COLORS, SHAPES, SIZES, SynthConfig
from jarvl.data.synthetic.language import a, noun_phrase, the
from jarvl.data.synthetic.relations import RELATIONS, holds
from jarvl.data.synthetic.scene import (
    ATTRIBUTES,
    Filter,
    Infeasible,
    Obj,
    Scene,
    fits,
    possible,
    sample_scene,
)

VALUES: dict[str, tuple[str, ...]] = {"size": SIZES, "color": tuple(COLORS), "shape": SHAPES}
# Slot sets used to refer to one object ("the red circle", "the large square", "the red object").
REF_TEMPLATES = (("color", "shape"), ("size", "shape"), ("color",), ("size", "color", "shape"))
EXISTS_TEMPLATES = (
    ("color",),
    ("shape",),
    ("color", "shape"),
    ("size", "color"),
    ("size", "shape"),
    ("size", "color", "shape"),
)
COUNT_TEMPLATES = (
    ("color",),
    ("shape",),
    ("size",),
    ("color", "shape"),
    ("size", "shape"),
    ("size", "color"),
)
T = TypeVar("T")


@dataclass(frozen=True)
class Item:
    """A generated example before rendering: ground-truth scene plus its text."""

    scene: Scene
    prompt: str
    target: str
    family: str


@dataclass(frozen=True)
class Claim:
    """A scene and a yes/no claim about it, as a question and as a statement."""

    scene: Scene
    question: str
    statement: str


def retry(make: Callable[[], T], tries: int = 1000) -> T:
    """Call ``make`` until it stops raising ``Infeasible`` (it redraws its own choices)."""
    for _ in range(tries):
        try:
            return make()
        except Infeasible:
            continue
    raise ValueError(f"no feasible example after {tries} tries; the SynthConfig is too tight")


@cache
def filters_for(slots: tuple[str, ...], condition: str) -> tuple[Filter, ...]:
    """Every filter setting exactly ``slots`` that some object can match under ``condition``."""
    combos = itertools.product(*(VALUES[s] for s in slots))
    found = (Filter(**dict(zip(slots, values))) for values in combos)
    return tuple(f for f in found if possible(f, condition))


def pick_filter(rng: random.Random, templates: tuple[tuple[str, ...], ...], condition: str) -> Filter:
    """A uniformly drawn template, then a uniformly drawn possible filter for it."""
    return rng.choice(filters_for(rng.choice(templates), condition))


def two_refs(rng: random.Random, condition: str, templates: tuple[tuple[str, ...], ...] = REF_TEMPLATES) -> tuple[Filter, Filter]:
    """Two references that can never pick the same object."""
    first, second = pick_filter(rng, templates, condition), pick_filter(rng, templates, condition)
    if not first.disjoint(second):
        raise Infeasible("references overlap")
    return first, second


def exists(rng: random.Random, cfg: SynthConfig, cond: str, yes: bool) -> Claim:
    """ "is there a red circle?" / "there is a red circle."."""
    f = pick_filter(rng, EXISTS_TEMPLATES, cond)
    scene = sample_scene(rng, cfg, cond, forced=(f,) if yes else (), forbid=() if yes else (f,))
    return Claim(scene, f"is there {a(f)}?", f"there is {a(f)}.")


def relation(rng: random.Random, cfg: SynthConfig, cond: str, yes: bool) -> Claim:
    """ "is the red circle left of the blue square?" (left of / right of / above / below)."""
    rel = rng.choice(tuple(RELATIONS))
    fa, fb = two_refs(rng, cond)
    scene = sample_scene(rng, cfg, cond, forced=(fa, fb), forbid=(fa, fb))
    (ia,), (ib,) = scene.find(fa), scene.find(fb)
    truth = holds(scene.objects[ia], scene.objects[ib], rel, scene.image_size)
    if truth is None:
        raise Infeasible("relation too close to call")
    if truth != yes:  # swapping the two positions flips the relation exactly
        scene = swap(scene, ia, ib)
    return Claim(scene, f"is {the(fa)} {rel} {the(fb)}?", f"{the(fa)} is {rel} {the(fb)}.")


def swap(scene: Scene, i: int, j: int) -> Scene:
    """The scene with objects ``i`` and ``j`` trading places; Infeasible if they no longer fit."""
    objs = list(scene.objects)
    oi, oj = objs[i], objs[j]
    objs[i] = Obj(oi.shape, oi.color, oi.size, oj.x, oj.y)
    objs[j] = Obj(oj.shape, oj.color, oj.size, oi.x, oi.y)
    if not fits(objs, scene.image_size):
        raise Infeasible("swapped objects overlap")
    return Scene(tuple(objs), scene.image_size, scene.condition)


COMPARATORS = {  # comparator -> (test on the two counts, question, statement)
    "more": (lambda c1, c2: c1 > c2, "are there more {} than {}?", "there are more {} than {}."),
    "fewer": (lambda c1, c2: c1 < c2, "are there fewer {} than {}?", "there are fewer {} than {}."),
    "as many": (lambda c1, c2: c1 == c2, "are there as many {} as {}?", "there are as many {} as {}."),
}


def compare_counts(rng: random.Random, cfg: SynthConfig, cond: str, yes: bool) -> Claim:
    """ "are there more circles than squares?" (more / fewer / as many; colours or shapes)."""
    slot = rng.choice(("color", "shape"))
    v1, v2 = rng.sample(VALUES[slot], 2)
    f1, f2 = Filter(**{slot: v1}), Filter(**{slot: v2})
    test, question, statement = COMPARATORS[rng.choice(tuple(COMPARATORS))]
    # Counts at most 2 apart, so "no" is never a landslide one can see at a glance.
    pairs = [
        (c1, c2)
        for c1 in range(cfg.max_objects + 1)
        for c2 in range(cfg.max_objects + 1 - c1)
        if 0 < c1 + c2 and abs(c1 - c2) <= 2 and test(c1, c2) == yes
    ]
    c1, c2 = rng.choice(pairs)
    scene = sample_scene(rng, cfg, cond, forced=(f1,) * c1 + (f2,) * c2, forbid=(f1, f2))
    p1, p2 = noun_phrase(f1, plural=True), noun_phrase(f2, plural=True)
    return Claim(scene, question.format(p1, p2), statement.format(p1, p2))


def same_attribute(rng: random.Random, cfg: SynthConfig, cond: str, yes: bool) -> Claim:
    """ "is the red square the same size as the blue circle?" (size / color / shape)."""
    q = rng.choice(ATTRIBUTES)
    others = [s for s in ATTRIBUTES if s != q]
    templates = ((others[0],), (others[1],), tuple(others))
    fa, fb = two_refs(rng, cond, templates)
    va = [v for v in VALUES[q] if possible(fa.with_(**{q: v}), cond)]
    vb = [v for v in VALUES[q] if possible(fb.with_(**{q: v}), cond)]
    pairs = [(x, y) for x in va for y in vb if (x == y) == yes]
    if not pairs or not [(x, y) for x in va for y in vb if (x == y) != yes]:
        raise Infeasible("the answer would follow from the words alone")
    x, y = rng.choice(pairs)
    forced = (fa.with_(**{q: x}), fb.with_(**{q: y}))
    scene = sample_scene(rng, cfg, cond, forced=forced, forbid=(fa, fb))
    same = f"the same {q} as {the(fb)}"
    return Claim(scene, f"is {the(fa)} {same}?", f"{the(fa)} is {same}.")
