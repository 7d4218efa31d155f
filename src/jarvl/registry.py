"""Named things chosen by a string in a config or a spec: one small registry type (timm's habit).

Presets, fusions, dataset readers and mixture strategies are each a :class:`Registry`; a name
that is not there is a ``ValueError`` naming the kind and suggesting the closest valid name
(STYLE.md rule 5). :func:`did_you_mean` is the same suggestion for any list of valid names
(config keys, reader options, synthetic task names).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


def closest(name: str, valid: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The valid name most like ``name`` (difflib's ratio >= ``cutoff``), or None."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(name: str, valid: Iterable[str], cutoff: float = 0.6, list_valid: bool = False) -> str:
    """``"; did you mean 'X'?"`` for the closest valid name; when none is close, ``"; valid: A, B"``
    with ``list_valid``, else nothing."""
    valid = list(valid)
    best = closest(name, valid, cutoff)
    if best is not None:
        return f"; did you mean {best!r}?"
    return f"; valid: {', '.join(valid)}" if list_valid else ""


class Registry(Generic[T]):
    """Names -> objects of one ``kind`` ("fusion", "model preset", ...), in registration order.

    ``register(name)`` is a decorator (or ``register(name, obj)`` a call); ``get(name)`` raises a
    ValueError with a suggestion for an unknown name; ``names()`` lists them.
    """

    def __init__(self, kind: str, *, sort_names: bool = False) -> None:
        self.kind = kind
        self.sort_names = sort_names  # list names sorted (else in registration order)
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Add ``obj`` under ``name``; without ``obj``, a decorator that adds what it decorates."""

        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = item
            return item

        return add if obj is None else add(obj)

    def names(self) -> list[str]:
        """Every registered name."""
        return sorted(self._items) if self.sort_names else list(self._items)

    def get(self, name: str, where: str = "") -> T:
        """The object registered as ``name``; ``where`` (e.g. `` in 'SPEC'``) is added to the error."""
        self.check(name, where)
        return self._items[name]

    def check(self, name: str, where: str = "") -> None:
        """Raise the unknown-name ValueError for a name that is not registered."""
        if name not in self._items:
            names = self.names()
            raise ValueError(f"unknown {self.kind} '{name}'{where}{did_you_mean(name, names)} (available: {', '.join(names)})")

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
