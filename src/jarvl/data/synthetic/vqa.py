"""VQA question families. Each draws the question and its answer first, then a scene that fits.

Families (``Sample.family``) and examples:

- ``attribute``: "what color is the large square?" -> "red"; "what shape is the red object?";
  "what size is the blue circle?". The phrase always picks out exactly one object.
- ``exists``: "is there a blue triangle?" -> "yes" / "no".
- ``count``: "how many red objects are there?" -> "0" ... str(max_objects), uniform.
- ``spatial``: "is the red circle left of the blue square?" -> "yes" / "no", or
  "what color is the object nearest to the green circle?" -> "cyan" (only when unique and clear).
- ``compare``: "are there more circles than squares?" / "is the red square the same size as
  the blue circle?" -> "yes" / "no".

Answers are (close to) uniform given the exact question text, so guessing from the words alone does
no better than chance; every question needs the image.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from jarvl.data.synthetic.claims import (
    COUNT_TEMPLATES,
    REF_TEMPLATES,
    VALUES,
    Claim,
    Item,
    compare_counts,
    exists,
    pick_filter,
    relation,
    retry,
    same_attribute,
    swap,
)
from jarvl.data.synthetic.config import SynthConfig
from jarvl.data.synthetic.language import noun_phrase, the
from jarvl.data.synthetic.relations import RELATIONS, unique_related
from jarvl.data.synthetic.scene import ATTRIBUTES, Filter, Infeasible, possible, sample_scene

Family = Callable[[random.Random, SynthConfig, str], Item]


def _yes_no(rng: random.Random) -> bool:
    return rng.random() < 0.5


def attribute(rng: random.Random, cfg: SynthConfig, cond: str) -> Item:
    """ "what <color|shape|size> is <the unique object described by the other attributes>?"."""
    q = rng.choice(ATTRIBUTES)
    others = [s for s in ATTRIBUTES if s != q]
    ref = pick_filter(rng, ((others[0],), (others[1],), tuple(others)), cond)
    values = [v for v in VALUES[q] if possible(ref.with_(**{q: v}), cond)]
    if len(values) < 2:
        raise Infeasible("the answer would follow from the words alone")
    value = rng.choice(values)
    scene = sample_scene(rng, cfg, cond, forced=(ref.with_(**{q: value}),), forbid=(ref,))
    return Item(scene, f"what {q} is {the(ref)}?", value, "attribute")


def count(rng: random.Random, cfg: SynthConfig, cond: str) -> Item:
    """ "how many red objects are there?" with the count uniform in 0..max_objects."""
    f = pick_filter(rng, COUNT_TEMPLATES, cond)
    k = rng.randint(0, cfg.max_objects)
    scene = sample_scene(rng, cfg, cond, forced=(f,) * k, forbid=(f,))
    return Item(scene, f"how many {noun_phrase(f, plural=True)} are there?", str(k), "count")


def related_attribute(rng: random.Random, cfg: SynthConfig, cond: str) -> Item:
    """ "what color is the object left of the green circle?" (the related object is unique)."""
    rel = rng.choice((*RELATIONS, "nearest to"))
    q = rng.choice(("color", "shape"))
    ref = pick_filter(rng, REF_TEMPLATES, cond)
    # The answer object is not the reference, so it must be able to differ from it.
    values = [v for v in VALUES[q] if possible(Filter(**{q: v}), cond, avoid=(ref,))]
    value = rng.choice(values)
    scene = sample_scene(rng, cfg, cond, forced=(ref, Filter(**{q: value})), forbid=(ref,))
    (ir,) = scene.find(ref)
    target = unique_related(scene, ir, rel)
    if target is None:
        raise Infeasible("relation not unique")
    if getattr(scene.objects[target], q) != value:  # move an object with the answer there
        holders = [j for j, o in enumerate(scene.objects) if j != ir and getattr(o, q) == value]
        scene = swap(scene, target, rng.choice(holders))
    return Item(scene, f"what {q} is the object {rel} {the(ref)}?", value, "spatial")


def _claim(make: Callable[[random.Random, SynthConfig, str, bool], Claim], family: str) -> Family:
    """A VQA family asking a yes/no claim generator, with "yes" and "no" equally likely."""

    def question(rng: random.Random, cfg: SynthConfig, cond: str) -> Item:
        yes = _yes_no(rng)
        claim = make(rng, cfg, cond, yes)
        return Item(claim.scene, claim.question, "yes" if yes else "no", family)

    return question


# family -> its question forms, drawn uniformly (each retried on its own, so the mix stays even).
VQA_FAMILIES: dict[str, tuple[Family, ...]] = {
    "attribute": (attribute,),
    "exists": (_claim(exists, "exists"),),
    "count": (count,),
    "spatial": (_claim(relation, "spatial"), related_attribute),
    "compare": (_claim(compare_counts, "compare"), _claim(same_attribute, "compare")),
}


def make_vqa(rng: random.Random, cfg: SynthConfig, cond: str) -> Item:
    """One VQA item: a family drawn uniformly from ``cfg.families``, a form, then its question."""
    form = rng.choice(VQA_FAMILIES[rng.choice(cfg.families)])
    return retry(lambda: form(rng, cfg, cond))
