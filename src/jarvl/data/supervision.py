"""The schema of a sample's supervision fields: the ``meta`` keys the auxiliary objectives read.

A reader of user data passes a record's ``meta`` through :func:`check_supervision` when it reads the
record, so a malformed field is a one-line error naming the record and the key before training starts,
not an ``IndexError`` deep inside a collate worker. The fields (all optional; see
``jarvl.data.collate`` for how each becomes a target, ``jarvl.data.synthetic.oracle`` for how the
synthetic questions fill them):

- ``objects``: list of objects, each a dict with pixel centres ``x``, ``y`` (numbers >= 0) and its
  attribute values (``GroundingConfig.labels`` names which);
- ``referents``: list of indices into ``objects``, the objects the text refers to;
- ``phrases``: list of ``[start, end, [indices]]``: a character span of the prompt and the objects it
  picks out;
- ``directions``: list of ``[start, end, [dx, dy]]``: a relation word's span and its direction;
- ``comparatives``: list of ``[start, end, [a, b, c]]``: a comparative word's span and its asks;
- ``same``: list of ``[start, end, attribute]``: a sameness question's attribute word and its name.
"""

from __future__ import annotations

from typing import Any

SUPERVISION_KEYS = ("objects", "referents", "phrases", "directions", "comparatives", "same")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _index(value: Any, count: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < count


def _spans(key: str, value: Any, prompt: str | None, payload) -> str | None:
    """The problem with a list of [start, end, payload] spans, or None; ``payload(x)`` -> problem or None."""
    if not isinstance(value, list):
        return f"meta.{key} must be a list of [start, end, ...] spans, got {type(value).__name__}"
    for k, span in enumerate(value):
        if not (isinstance(span, (list, tuple)) and len(span) == 3):
            return f"meta.{key}[{k}] must be [start, end, ...], got {span!r}"
        start, end, rest = span
        limit = len(prompt) if prompt is not None else None
        if not (_index(start, 1 << 30) and _index(end, 1 << 30) and start <= end and (limit is None or end <= limit)):
            bound = f" <= {limit} (the prompt's length)" if limit is not None else ""
            return f"meta.{key}[{k}]: start {start!r} and end {end!r} must be integers with 0 <= start <= end{bound}"
        problem = payload(rest)
        if problem:
            return f"meta.{key}[{k}]: {problem}"
    return None


def supervision_problem(meta: dict[str, Any], prompt: str | None = None) -> str | None:
    """What is wrong with ``meta``'s supervision fields (the first problem found), or None."""
    objects = meta.get("objects")
    count = 0
    if objects is not None:
        if not isinstance(objects, list):
            return f"meta.objects must be a list of objects, got {type(objects).__name__}"
        for k, obj in enumerate(objects):
            if not isinstance(obj, dict) or not all(_number(obj.get(c)) and obj[c] >= 0 for c in ("x", "y")):
                return f"meta.objects[{k}] must be an object with numbers x, y >= 0 (its pixel centre), got {obj!r}"
        count = len(objects)
    indices_in_range = "indices into meta.objects" + (f" (0 .. {count - 1})" if count else " (which is missing or empty)")
    referents = meta.get("referents")
    if referents is not None and not (isinstance(referents, list) and all(_index(i, count) for i in referents)):
        return f"meta.referents must be a list of {indices_in_range}, got {referents!r}"
    checks = {
        "phrases": lambda rest: (
            None
            if isinstance(rest, (list, tuple)) and all(_index(i, count) for i in rest)
            else f"the objects must be a list of {indices_in_range}, got {rest!r}"
        ),
        "directions": lambda rest: (
            None
            if isinstance(rest, (list, tuple)) and len(rest) == 2 and all(map(_number, rest))
            else f"the direction must be [dx, dy] (numbers), got {rest!r}"
        ),
        "comparatives": lambda rest: (
            None
            if isinstance(rest, (list, tuple)) and len(rest) == 3 and all(map(_number, rest))
            else f"the asks must be [a, b, c] (numbers), got {rest!r}"
        ),
        "same": lambda rest: None if isinstance(rest, str) and rest else f"the attribute must be a non-empty string, got {rest!r}",
    }
    for key, payload in checks.items():
        if meta.get(key) is not None:
            problem = _spans(key, meta[key], prompt, payload)
            if problem:
                return problem
    return None


def check_supervision(meta: dict[str, Any], where: str, prompt: str | None = None) -> None:
    """ValueError ``"<where>: <problem>"`` if ``meta``'s supervision fields are malformed."""
    problem = supervision_problem(meta, prompt)
    if problem:
        raise ValueError(f"{where}: {problem}")
