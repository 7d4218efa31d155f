"""Visual entailment (as SNLI-VE): a statement labelled entailment / neutral / contradiction.

Labels are uniform. Entailments and half the contradictions are true or false *depictable* claims
("there are two red objects.", "the red circle is left of the blue square."). Neutral statements
add a property no picture can show to an object that is there ("there is a red circle made of
wood."); the same statement about an absent object is a contradiction. So the words alone never
settle the label: a material statement is neutral or contradiction, a plain one entailment or
contradiction, and only the image tells which. (The words do carry a prior: given the kind of
statement, the more likely label is right 2/3 of the time.)

Plain claims come from the VQA families in ``SynthConfig.families`` (``FAMILY_OF`` maps each kind
of claim to its family), so one difficulty setting means the same for both tasks; material claims
are drawn whatever the families.
"""

from __future__ import annotations

import random

from jarvl.data.synthetic.claims import (
    COUNT_TEMPLATES,
    EXISTS_TEMPLATES,
    VALUES,
    Claim,
    Item,
    compare_counts,
    exists,
    pick_filter,
    relation,
    retry,
    same_attribute,
)
from jarvl.data.synthetic.config import SynthConfig
from jarvl.data.synthetic.language import a, noun_phrase, number_word, the
from jarvl.data.synthetic.scene import ATTRIBUTES, Infeasible, possible, sample_scene

LABELS = ("entailment", "neutral", "contradiction")
MATERIALS = ("wood", "metal", "glass", "rubber", "plastic", "stone", "paper")


def count_claim(rng: random.Random, cfg: SynthConfig, cond: str, yes: bool) -> Claim:
    """ "there are two red objects." (false counts are off by one or two)."""
    f = pick_filter(rng, COUNT_TEMPLATES, cond)
    stated = rng.randint(0, cfg.max_objects)
    actual = stated
    if not yes:
        actual = rng.choice([k for k in range(cfg.max_objects + 1) if 0 < abs(k - stated) <= 2])
    scene = sample_scene(rng, cfg, cond, forced=(f,) * actual, forbid=(f,))
    if stated == 1:
        statement = f"there is one {noun_phrase(f)}."
    else:
        statement = f"there are {number_word(stated)} {noun_phrase(f, plural=True)}."
    return Claim(scene, f"are there exactly {stated} {noun_phrase(f, plural=True)}?", statement)


def attribute_claim(rng: random.Random, cfg: SynthConfig, cond: str, yes: bool) -> Claim:
    """ "the large square is red." / "the red object is a circle." / "the red circle is small."."""
    q = rng.choice(ATTRIBUTES)
    others = [s for s in ATTRIBUTES if s != q]
    ref = pick_filter(rng, ((others[0],), (others[1],), tuple(others)), cond)
    values = [v for v in VALUES[q] if possible(ref.with_(**{q: v}), cond)]
    if len(values) < 2:
        raise Infeasible("the label would follow from the words alone")
    stated = rng.choice(values)
    actual = stated if yes else rng.choice([v for v in values if v != stated])
    scene = sample_scene(rng, cfg, cond, forced=(ref.with_(**{q: actual}),), forbid=(ref,))
    value = f"a {stated}" if q == "shape" else stated
    return Claim(scene, f"is {the(ref)} {value}?", f"{the(ref)} is {value}.")


def material_claim(rng: random.Random, cfg: SynthConfig, cond: str, yes: bool) -> Claim:
    """ "there is a red circle made of wood.": undecidable if a red circle is there, else false."""
    f = pick_filter(rng, EXISTS_TEMPLATES, cond)
    scene = sample_scene(rng, cfg, cond, forced=(f,) if yes else (), forbid=() if yes else (f,))
    material = rng.choice(MATERIALS)
    thing = f"{a(f)} made of {material}"
    return Claim(scene, f"is there {thing}?", f"there is {thing}.")


PLAIN_CLAIMS = {
    "exists": exists,
    "count": count_claim,
    "attribute": attribute_claim,
    "spatial": relation,
    "compare_count": compare_counts,
    "compare_attribute": same_attribute,
}

# kind of plain claim -> the VQA family (``SynthConfig.families``) that selects it.
FAMILY_OF = {
    "exists": "exists",
    "count": "count",
    "attribute": "attribute",
    "spatial": "spatial",
    "compare_count": "compare",
    "compare_attribute": "compare",
}

_NEED_TWO_OBJECTS = ("spatial", "compare_count", "compare_attribute")


def plain_kinds(cfg: SynthConfig) -> list[str]:
    """The kinds of plain claim ``cfg`` allows: those of its families that its scenes can hold."""
    return [k for k in PLAIN_CLAIMS if FAMILY_OF[k] in cfg.families and (cfg.max_objects >= 2 or k not in _NEED_TWO_OBJECTS)]


def make_entailment(rng: random.Random, cfg: SynthConfig, cond: str) -> Item:
    """One statement with a uniformly drawn label; ``family`` names the kind of claim."""
    label = rng.choice(LABELS)
    if label == "neutral" or (label == "contradiction" and rng.random() < 0.5):
        family, make, yes = "material", material_claim, label == "neutral"
    else:
        family = rng.choice(plain_kinds(cfg))
        make, yes = PLAIN_CLAIMS[family], label == "entailment"
    claim = retry(lambda: make(rng, cfg, cond, yes))
    return Item(claim.scene, claim.statement, label, family)
