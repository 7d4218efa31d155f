"""Answer any generated question or statement from a scene's ground truth, independently of how it
was generated: the reference semantics of the synthetic language, used to check the generators.

    >>> answer_question(scene, "how many red objects are there?")      # "2"
    >>> entailment_label(scene, "there is a red circle made of wood.")  # "neutral"
    >>> question_referents(scene, "how many red objects are there?")    # [0, 3]: the objects it names
    >>> statement_referents(scene, "there are two red objects.")        # [0, 3]: the same for a statement
    >>> question_phrases(scene, "how many red objects are there?")      # [(9, 20, [0, 3])]: per phrase
    >>> relation_directions("is the red circle left of the blue square?")  # [(18, 25, (1.0, 0.0))]
    >>> comparative_asks("are there more circles than squares?")  # [(10, 14, (-1.0, 0.0, -0.5))]
    >>> same_asks("is the red circle the same size as the blue square?")  # [(27, 31, "size")]

Both return None when the text is ill-posed for the scene (a reference that is not unique, a
relation too close to call); both raise ValueError for text outside the templates.
"""

from __future__ import annotations

import re

from jarvl.data.synthetic.config import COLORS, SHAPES, SIZES
from jarvl.data.synthetic.language import NUMBER_WORDS
from jarvl.data.synthetic.relations import RELATIONS, holds, unique_related
from jarvl.data.synthetic.scene import Filter, Scene

_REL = r"(left of|right of|above|below)"
_REL_OR_NEAREST = r"(left of|right of|above|below|nearest to)"
_ATTR = r"(color|shape|size)"


def parse_phrase(text: str) -> Filter:
    """ "large red circles" -> Filter("large", "red", "circle"); "object(s)" leaves shape open."""
    *adjectives, noun = text.split()
    noun = noun[:-1] if noun.endswith("s") else noun
    if noun not in (*SHAPES, "object"):
        raise ValueError(f"not a noun phrase: {text!r}")
    slots: dict[str, str] = {} if noun == "object" else {"shape": noun}
    for word in adjectives:
        slot = "size" if word in SIZES else "color" if word in COLORS else None
        if slot is None or slot in slots:
            raise ValueError(f"not a noun phrase: {text!r}")
        slots[slot] = word
    return Filter(**slots)


def _unique(scene: Scene, phrase: str) -> int | None:
    found = scene.find(parse_phrase(phrase))
    return found[0] if len(found) == 1 else None


def _yes(truth: bool | None) -> str | None:
    return None if truth is None else "yes" if truth else "no"


def _attribute(scene: Scene, q: str, ref: str) -> str | None:
    i = _unique(scene, ref)
    return None if i is None else getattr(scene.objects[i], q)


def _relation(scene: Scene, ref_a: str, rel: str, ref_b: str) -> str | None:
    ia, ib = _unique(scene, ref_a), _unique(scene, ref_b)
    if ia is None or ib is None or ia == ib:
        return None
    return _yes(holds(scene.objects[ia], scene.objects[ib], rel, scene.image_size))


def _related(scene: Scene, q: str, rel: str, ref: str) -> str | None:
    i = _unique(scene, ref)
    j = None if i is None else unique_related(scene, i, rel)
    return None if j is None else getattr(scene.objects[j], q)


def _counts(scene: Scene, kind: str, p1: str, p2: str) -> str:
    c1, c2 = scene.count(parse_phrase(p1)), scene.count(parse_phrase(p2))
    return _yes({"more": c1 > c2, "fewer": c1 < c2, "as many": c1 == c2}[kind])


def _same(scene: Scene, ref_a: str, q: str, ref_b: str) -> str | None:
    ia, ib = _unique(scene, ref_a), _unique(scene, ref_b)
    if ia is None or ib is None or ia == ib:
        return None
    return _yes(getattr(scene.objects[ia], q) == getattr(scene.objects[ib], q))


_QUESTIONS = (
    (rf"what (color|shape) is the object {_REL_OR_NEAREST} the (.+)", _related),
    (rf"what {_ATTR} is the (.+)", _attribute),
    (r"is there an? (.+)", lambda s, p: _yes(s.count(parse_phrase(p)) > 0)),
    (r"how many (.+) are there", lambda s, p: str(s.count(parse_phrase(p)))),
    (rf"is the (.+) {_REL} the (.+)", _relation),
    (r"are there (more|fewer) (.+) than (.+)", _counts),
    (r"are there (as many) (.+) as (.+)", _counts),
    (rf"is the (.+) the same {_ATTR} as the (.+)", _same),
)


def _match(table, scene: Scene, text: str, end: str):
    text = text.strip().lower()
    if not text.endswith(end):
        raise ValueError(f"expected text ending in {end!r}: {text!r}")
    for pattern, fn in table:
        m = re.fullmatch(pattern, text[: -len(end)])
        if m:
            try:
                return fn(scene, *m.groups())
            except ValueError:
                continue  # a wider pattern can swallow words that are no noun phrase; try the next
    raise ValueError(f"not a synthetic template: {text!r}")


def answer_question(scene: Scene, question: str) -> str | None:
    """The answer to a VQA question about ``scene`` ("yes", "red", "3", ...), None if ill-posed."""
    return _match(_QUESTIONS, scene, question, "?")


def _referred(scene: Scene, *phrases: str) -> list[int] | None:
    """The objects each unique reference picks out; None when one is not unique (ill-posed)."""
    found = [_unique(scene, p) for p in phrases]
    return None if any(i is None for i in found) else sorted(set(found))


def _related_refs(scene: Scene, q: str, rel: str, ref: str) -> list[int] | None:
    i = _unique(scene, ref)
    j = None if i is None else unique_related(scene, i, rel)
    return None if j is None else sorted({i, j})


def _all_of(scene: Scene, *phrases: str) -> list[int]:
    return sorted({i for p in phrases for i in scene.find(parse_phrase(p))})


# The same templates as _QUESTIONS, each mapped to the objects its words refer to.
_REFERENTS = (
    (rf"what (color|shape) is the object {_REL_OR_NEAREST} the (.+)", _related_refs),
    (rf"what {_ATTR} is the (.+)", lambda s, q, ref: _referred(s, ref)),
    (r"is there an? (.+)", _all_of),
    (r"how many (.+) are there", _all_of),
    (rf"is the (.+) {_REL} the (.+)", lambda s, a, rel, b: _referred(s, a, b)),
    (r"are there (more|fewer) (.+) than (.+)", lambda s, kind, p1, p2: _all_of(s, p1, p2)),
    (r"are there (as many) (.+) as (.+)", lambda s, kind, p1, p2: _all_of(s, p1, p2)),
    (rf"is the (.+) the same {_ATTR} as the (.+)", lambda s, a, q, b: _referred(s, a, b)),
)


def question_referents(scene: Scene, question: str) -> list[int] | None:
    """Indices of the objects a VQA question refers to, sorted: every object its noun phrases pick
    out ("is there a red circle?": all red circles, none when the answer is no; "what color is the
    object left of the green circle?": the green circle and the object left of it). None if ill-posed.
    """
    return _match(_REFERENTS, scene, question, "?")


def _label(truth: str | None) -> str | None:
    return None if truth is None else "entailment" if truth == "yes" else "contradiction"


def _count_statement(scene: Scene, number: str, phrase: str) -> str | None:
    return _label(_yes(scene.count(parse_phrase(phrase)) == NUMBER_WORDS.index(number)))


def _is_value(scene: Scene, ref: str, value: str) -> str | None:
    q = "shape" if value.startswith("a ") else "size" if value in SIZES else "color"
    got = _attribute(scene, q, ref)
    return None if got is None else _label(_yes(got == value.removeprefix("a ")))


_STATEMENTS = (
    (r"there is an? (.+) made of \w+", lambda s, p: "neutral" if s.count(parse_phrase(p)) else "contradiction"),
    (r"there is an? (.+)", lambda s, p: _label(_yes(s.count(parse_phrase(p)) > 0))),
    (r"there are (more|fewer) (.+) than (.+)", lambda *a: _label(_counts(*a))),
    (r"there are (as many) (.+) as (.+)", lambda *a: _label(_counts(*a))),
    (r"there (?:is|are) (\w+) (.+)", _count_statement),
    (rf"the (.+) is the same {_ATTR} as the (.+)", lambda *a: _label(_same(*a))),
    (rf"the (.+) is {_REL} the (.+)", lambda *a: _label(_relation(*a))),
    (r"the (.+) is (a \w+|\w+)", _is_value),
)


def entailment_label(scene: Scene, statement: str) -> str | None:
    """ "entailment", "neutral" or "contradiction" for a statement; None when ill-posed."""
    return _match(_STATEMENTS, scene, statement, ".")


# The same templates as _QUESTIONS, each with the groups that are noun phrases naming objects by their
# attributes. "the object left of the green circle" is not one: which object it is follows from the
# image, not from the words, so only "green circle" is grounded there.
_PHRASES = (
    (rf"what (color|shape) is the object {_REL_OR_NEAREST} the (.+)", (3,)),
    (rf"what {_ATTR} is the (.+)", (2,)),
    (r"is there an? (.+)", (1,)),
    (r"how many (.+) are there", (1,)),
    (rf"is the (.+) {_REL} the (.+)", (1, 3)),
    (r"are there (more|fewer) (.+) than (.+)", (2, 3)),
    (r"are there (as many) (.+) as (.+)", (2, 3)),
    (rf"is the (.+) the same {_ATTR} as the (.+)", (1, 3)),
)


def question_phrases(scene: Scene, question: str) -> list[tuple[int, int, list[int]]] | None:
    """Each noun phrase of a VQA question that names objects by their attributes, as a character
    span of ``question`` and the objects it picks out: (start, end, indices), in order ("are there
    more circles than squares?": the circles, then the squares; MDETR's ``tokens_positive`` with
    their boxes). An empty list of indices: the phrase names nothing in the scene ("is there a green
    circle?" when the answer is no). None if ill-posed (``question_referents`` is None).
    """
    return None if question_referents(scene, question) is None else phrase_spans(scene, question)


def phrase_spans(scene: Scene, question: str) -> list[tuple[int, int, list[int]]]:
    """``question_phrases`` for a question already known to be well-posed (its referents not None)."""
    return _spans(_PHRASES, scene, question)


def _spans(table, scene: Scene, text: str) -> list[tuple[int, int, list[int]]]:
    """The noun-phrase groups of the first of ``table``'s (pattern, groups) that parses ``text``."""
    lead = len(text) - len(text.lstrip())
    body = text.strip().lower()[:-1]
    for pattern, groups in table:
        m = re.fullmatch(pattern, body)
        if m is None:
            continue
        try:
            return [(lead + m.start(g), lead + m.end(g), scene.find(parse_phrase(m.group(g)))) for g in groups]
        except ValueError:
            continue  # as in _match: a wider pattern swallowed words that are no noun phrase
    raise ValueError(f"not a synthetic template: {text!r}")


# The same templates as _STATEMENTS: the objects each statement's words refer to, and its noun phrases
# (as _REFERENTS and _PHRASES for the question each statement restates). A material statement refers
# to the objects its phrase names without the material ("a red circle made of wood": the red circles).
_STATEMENT_REFERENTS = (
    (r"there is an? (.+) made of \w+", (1,), _all_of),
    (r"there is an? (.+)", (1,), _all_of),
    (r"there are (more|fewer) (.+) than (.+)", (2, 3), lambda s, kind, p1, p2: _all_of(s, p1, p2)),
    (r"there are (as many) (.+) as (.+)", (2, 3), lambda s, kind, p1, p2: _all_of(s, p1, p2)),
    (r"there (?:is|are) (\w+) (.+)", (2,), lambda s, number, p: _all_of(s, p)),
    (rf"the (.+) is the same {_ATTR} as the (.+)", (1, 3), lambda s, a, q, b: _referred(s, a, b)),
    (rf"the (.+) is {_REL} the (.+)", (1, 3), lambda s, a, rel, b: _referred(s, a, b)),
    (r"the (.+) is (a \w+|\w+)", (1,), lambda s, ref, value: _referred(s, ref)),
)


def statement_referents(scene: Scene, statement: str) -> list[int] | None:
    """``question_referents`` for an entailment statement ("there are two red objects.": the red
    objects; "there is a red circle made of wood.": the red circles). None if ill-posed."""
    return _match([(pattern, fn) for pattern, _, fn in _STATEMENT_REFERENTS], scene, statement, ".")


def statement_phrase_spans(scene: Scene, statement: str) -> list[tuple[int, int, list[int]]]:
    """``phrase_spans`` for a well-posed entailment statement: each noun phrase naming objects by
    their attributes as a character span of ``statement`` and the objects it picks out."""
    return _spans([(pattern, groups) for pattern, groups, _ in _STATEMENT_REFERENTS], scene, statement)


def relation_directions(question: str) -> list[tuple[int, int, tuple[float, float]]]:
    """Each directional relation word of a VQA question or statement ("left of", "above", ...) as a
    character span and the unit direction (dx, dy) in image coordinates (x right, y down) from its
    subject to its object when it holds: "A left of B" -> (1, 0), B lies to the right of A
    (``relations.RELATIONS``). "nearest to" names no direction; a text without relation words: [].
    """
    out = []
    for m in re.finditer(_REL, question.lower()):
        axis, sign = RELATIONS[m.group(1)]
        out.append((m.start(), m.end(), (float(sign), 0.0) if axis == "x" else (0.0, float(sign))))
    return out


# What each comparative asks of (n_B - n_A, |n_B - n_A|, 1), the counts' difference of its second and
# first noun phrase: the answer is "yes" exactly when the product is positive, for integer counts.
COMPARATIVE_ASKS = {"more": (-1.0, 0.0, -0.5), "fewer": (1.0, 0.0, -0.5), "as many": (0.0, -1.0, 0.5)}


def comparative_asks(question: str) -> list[tuple[int, int, tuple[float, float, float]]]:
    """The comparative of a count comparison ("are there more A than B?", "there are as many A as
    B.") as a character span and what it asks of (n_B - n_A, |n_B - n_A|, 1), n the phrases' counts:
    "more" (-1, 0, -1/2), "fewer" (1, 0, -1/2), "as many" (0, -1, 1/2), so that their dot product
    is > 0 exactly when the answer is yes (``COMPARATIVE_ASKS``). A text without one: [].
    """
    m = re.match(r"\s*(?:are there|there are) (more|fewer|as many) ", question.lower())
    return [] if m is None else [(m.start(1), m.end(1), COMPARATIVE_ASKS[m.group(1)])]


def same_asks(question: str) -> list[tuple[int, int, str]]:
    """The attribute a sameness question or statement asks about ("is the red circle the same size as
    the blue square?": "size") as a character span and the attribute's name. A text without one: []."""
    return [(m.start(1), m.end(1), m.group(1)) for m in re.finditer(rf"\bthe same {_ATTR} as\b", question.lower())]
