"""More questions about a scene that already exists: several questions per image.

The VQA families (``vqa.py``) draw a question and its answer first and then a scene that fits, which
keeps answers uniform given the words. A follow-up question has to fit a scene already drawn, so it
is built from the scene instead, with the same templates and the same well-posedness rules: its
references are descriptions of the scene's own objects that pick out exactly one of them, its
answer is read off the ground truth (``oracle.answer_question`` agrees; the tests check it), and
its answer is drawn first wherever the scene allows, by rejection:

- yes/no forms (exists, "is A left of B?", "more/fewer/as many", "the same size as"): "yes" and
  "no" equally likely;
- count: the wanted count uniform in 0..max_objects, else the closest the draws found;
- attribute and "what color is the object left of B?": whatever the referred object has (the asked
  attribute leans to size and shape, whose references are more often unique in a crowded scene).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from jarvl.data.synthetic.claims import COMPARATORS, COUNT_TEMPLATES, EXISTS_TEMPLATES, REF_TEMPLATES, VALUES, Item, pick_filter, retry
from jarvl.data.synthetic.config import SynthConfig
from jarvl.data.synthetic.language import a, noun_phrase, the
from jarvl.data.synthetic.relations import RELATIONS, holds, unique_related
from jarvl.data.synthetic.scene import ATTRIBUTES, Filter, Infeasible, Scene, possible

# A form: (rng, cfg, condition, scene, yes) -> Item, ``yes`` the wanted answer of a yes/no form
# (the others ignore it); Infeasible when the scene does not allow it.
Form = Callable[[random.Random, SynthConfig, str, Scene, bool], Item]
FAMILY_ATTEMPTS = 200  # draws of one family before any family will do (a scene with no unique reference)
COUNT_DRAWS = 8


def followup_question(rng: random.Random, cfg: SynthConfig, cond: str, scene: Scene, first: Item) -> Item:
    """A VQA question about ``scene`` with its true answer; the family uniform from ``cfg.families``.

    The family and a yes/no answer are drawn once and kept until a form is well-posed on the scene,
    so that neither a family rarely well-posed (spatial) nor an answer rarely possible loses its
    share. When ``FAMILY_ATTEMPTS`` draws fail (no object can be referred to uniquely, say) any
    family and answer will do; when none does in 1000 draws, the group's ``first`` question again.
    """
    family, yes = rng.choice(cfg.families), rng.random() < 0.5
    for _ in range(FAMILY_ATTEMPTS):
        try:
            return rng.choice(FORMS[family])(rng, cfg, cond, scene, yes)
        except Infeasible:
            continue
    try:
        return retry(lambda: rng.choice(FORMS[rng.choice(cfg.families)])(rng, cfg, cond, scene, rng.random() < 0.5))
    except ValueError:
        return first


def _yes_no(want: bool, truth: bool | None) -> str:
    if truth is None or truth != want:
        raise Infeasible("not the wanted answer")
    return "yes" if truth else "no"


def _ref(rng: random.Random, scene: Scene, i: int, templates: tuple[tuple[str, ...], ...]) -> Filter:
    """Object ``i`` described by a uniformly drawn template; Infeasible unless that picks out only it."""
    o = scene.objects[i]
    f = Filter(**{s: getattr(o, s) for s in rng.choice(templates)})
    if scene.count(f) != 1:
        raise Infeasible("the description is not unique")
    return f


def _two(rng: random.Random, scene: Scene, templates=REF_TEMPLATES) -> tuple[int, int, Filter, Filter]:
    if len(scene.objects) < 2:
        raise Infeasible("one object")
    i, j = rng.sample(range(len(scene.objects)), 2)
    fa, fb = _ref(rng, scene, i, templates), _ref(rng, scene, j, templates)
    if not fa.disjoint(fb):  # as ``claims.two_refs``: references that can never pick the same object
        raise Infeasible("references overlap")
    return i, j, fa, fb


def attribute(rng: random.Random, cfg: SynthConfig, cond: str, scene: Scene, yes: bool) -> Item:
    """ "what color is the large square?" about one of the scene's objects."""
    i, q = rng.randrange(len(scene.objects)), rng.choice(ATTRIBUTES)
    others = [s for s in ATTRIBUTES if s != q]
    ref = _ref(rng, scene, i, ((others[0],), (others[1],), tuple(others)))
    if sum(possible(ref.with_(**{q: v}), cond) for v in VALUES[q]) < 2:
        raise Infeasible("the answer would follow from the words alone")
    return Item(scene, f"what {q} is {the(ref)}?", getattr(scene.objects[i], q), "attribute")


def exists(rng: random.Random, cfg: SynthConfig, cond: str, scene: Scene, yes: bool) -> Item:
    """ "is there a blue triangle?": a description of a present object, or of none."""
    if yes:
        o = rng.choice(scene.objects)
        f = Filter(**{s: getattr(o, s) for s in rng.choice(EXISTS_TEMPLATES)})
    else:
        f = pick_filter(rng, EXISTS_TEMPLATES, cond)
    return Item(scene, f"is there {a(f)}?", _yes_no(yes, scene.count(f) > 0), "exists")


def count(rng: random.Random, cfg: SynthConfig, cond: str, scene: Scene, yes: bool) -> Item:
    """ "how many red objects are there?", aiming at a count uniform in 0..max_objects."""
    want, best = rng.randint(0, cfg.max_objects), None
    for _ in range(COUNT_DRAWS):
        if rng.random() < 0.5:
            o = rng.choice(scene.objects)
            f = Filter(**{s: getattr(o, s) for s in rng.choice(COUNT_TEMPLATES)})
        else:
            f = pick_filter(rng, COUNT_TEMPLATES, cond)
        k = scene.count(f)
        if best is None or abs(k - want) < abs(best[1] - want):
            best = (f, k)
        if k == want:
            break
    f, k = best
    return Item(scene, f"how many {noun_phrase(f, plural=True)} are there?", str(k), "count")


def relation(rng: random.Random, cfg: SynthConfig, cond: str, scene: Scene, yes: bool) -> Item:
    """ "is the red circle left of the blue square?"."""
    i, j, fa, fb = _two(rng, scene)
    rel = rng.choice(tuple(RELATIONS))
    answer = _yes_no(yes, holds(scene.objects[i], scene.objects[j], rel, scene.image_size))
    return Item(scene, f"is {the(fa)} {rel} {the(fb)}?", answer, "spatial")


def related_attribute(rng: random.Random, cfg: SynthConfig, cond: str, scene: Scene, yes: bool) -> Item:
    """ "what color is the object left of the green circle?" (the related object unique)."""
    i = rng.randrange(len(scene.objects))
    ref = _ref(rng, scene, i, REF_TEMPLATES)
    rel, q = rng.choice((*RELATIONS, "nearest to")), rng.choice(("color", "shape"))
    target = unique_related(scene, i, rel)
    if target is None:
        raise Infeasible("relation not unique")
    return Item(scene, f"what {q} is the object {rel} {the(ref)}?", getattr(scene.objects[target], q), "spatial")


def compare_counts(rng: random.Random, cfg: SynthConfig, cond: str, scene: Scene, yes: bool) -> Item:
    """ "are there more circles than squares?" (counts at most 2 apart, not both 0, as the generator's)."""
    slot = rng.choice(("color", "shape"))
    v1 = getattr(rng.choice(scene.objects), slot)
    v2 = rng.choice([v for v in VALUES[slot] if v != v1])
    if rng.random() < 0.5:
        v1, v2 = v2, v1
    f1, f2 = Filter(**{slot: v1}), Filter(**{slot: v2})
    c1, c2 = scene.count(f1), scene.count(f2)
    if abs(c1 - c2) > 2:
        raise Infeasible("a landslide")
    test, question, _ = COMPARATORS[rng.choice(tuple(COMPARATORS))]
    answer = _yes_no(yes, test(c1, c2))
    return Item(scene, question.format(noun_phrase(f1, plural=True), noun_phrase(f2, plural=True)), answer, "compare")


def same_attribute(rng: random.Random, cfg: SynthConfig, cond: str, scene: Scene, yes: bool) -> Item:
    """ "is the red square the same size as the blue circle?"."""
    q = rng.choice(ATTRIBUTES)
    others = [s for s in ATTRIBUTES if s != q]
    i, j, fa, fb = _two(rng, scene, ((others[0],), (others[1],), tuple(others)))
    va = [v for v in VALUES[q] if possible(fa.with_(**{q: v}), cond)]
    vb = [v for v in VALUES[q] if possible(fb.with_(**{q: v}), cond)]
    outcomes = {x == y for x in va for y in vb}
    if len(outcomes) < 2:
        raise Infeasible("the answer would follow from the words alone")
    answer = _yes_no(yes, getattr(scene.objects[i], q) == getattr(scene.objects[j], q))
    return Item(scene, f"is {the(fa)} the same {q} as {the(fb)}?", answer, "compare")


# family -> its forms, drawn uniformly, as ``vqa.VQA_FAMILIES``.
FORMS: dict[str, tuple[Form, ...]] = {
    "attribute": (attribute,),
    "exists": (exists,),
    "count": (count,),
    "spatial": (relation, related_attribute),
    "compare": (compare_counts, same_attribute),
}
