"""Dataset specs ``FORMAT:PATH[:SPLIT]`` and the registry of readers that open them.

A reader is a callable ``(path: str, split: str | None, options: dict) -> Dataset`` where the
dataset has ``__len__`` and ``__getitem__(i) -> Sample`` (raising ``BadRecord`` for unusable
records). Register one with ``@register_reader("name")``. Options come from the config
(``data.options``) and from a spec suffix ``?key=value&key=value``.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Protocol
from urllib.parse import parse_qsl

from jarvl.data.schema import Sample


class Dataset(Protocol):
    """What every reader returns: random access to ``Sample``s."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...


Reader = Callable[[str, "str | None", dict[str, Any]], Dataset]
_READERS: dict[str, Reader] = {}


def register_reader(name: str) -> Callable[[Reader], Reader]:
    """Decorator registering a reader for ``name:...`` specs."""

    def add(fn: Reader) -> Reader:
        _READERS[name] = fn
        return fn

    return add


def list_formats() -> list[str]:
    """Every format a spec may name."""
    _load_builtin()
    return sorted(_READERS)


def parse_spec(spec: str) -> tuple[str, str, str | None, dict[str, str]]:
    """``FORMAT:PATH[:SPLIT][?k=v&...]`` -> (format, path, split or None, options)."""
    spec, _, query = spec.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    fmt, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise ValueError(f"dataset spec '{spec}' must look like FORMAT:PATH[:SPLIT] (formats: {', '.join(list_formats())})")
    path, split = rest, None
    # The split is the last ':'-separated part, unless the format takes none (jsonl, wds).
    if fmt not in ("jsonl", "wds") and ":" in rest:
        path, split = rest.rsplit(":", 1)
    return fmt, path, split, options


def open_dataset(spec: str, options: dict[str, Any] | None = None) -> Dataset:
    """Open the dataset a spec names; unknown formats get a suggestion."""
    fmt, path, split, spec_options = parse_spec(spec)
    _load_builtin()
    if fmt not in _READERS:
        close = difflib.get_close_matches(fmt, list(_READERS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown dataset format '{fmt}' in '{spec}'{hint} (formats: {', '.join(sorted(_READERS))})")
    return _READERS[fmt](path, split, {**(options or {}), **spec_options})


def _load_builtin() -> None:
    # Importing the reader modules registers them; done lazily to keep `import jarvl.data` light.
    import importlib

    for module in ("jarvl.data.readers",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
