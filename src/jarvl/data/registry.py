"""Dataset specs ``FORMAT:PATH[:SPLIT][?key=value&...]`` and the registry of readers that open them.

A reader is a callable ``(path: str, split: str | None, options: dict) -> Dataset`` where the
dataset has ``__len__`` and ``__getitem__(i) -> Sample`` (raising ``BadRecord`` for unusable
records). Register one with ``@register_reader("name")``; a reader whose path may hold ``:``
and that takes no split (``jsonl``, ``wds``, ``noisy``) says so with ``split=False``. Options come
from the config (``data.options``) and from the spec's ``?key=value&key=value`` suffix.

:class:`DatasetSpec` is the one place a spec string is taken apart or put together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote

from jarvl.data.schema import Sample
from jarvl.registry import Registry


class Dataset(Protocol):
    """What every reader returns: random access to ``Sample``s."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...


Reader = Callable[[str, "str | None", dict[str, Any]], Dataset]
READERS: Registry[Reader] = Registry("dataset format", sort_names=True)


def register_reader(name: str, *, split: bool = True) -> Callable[[Reader], Reader]:
    """Decorator registering a reader for ``name:...`` specs; ``split=False``: the whole rest is the path."""

    def add(fn: Reader) -> Reader:
        fn.takes_split = split
        return READERS.register(name, fn)

    return add


def list_formats() -> list[str]:
    """Every format a spec may name."""
    _load_builtin()
    return READERS.names()


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec: ``format``, ``path``, ``split`` (None when absent) and ``options``.

    ``str(spec)`` writes it back (``parse(str(s)) == s``); ``with_options`` / ``without_options``
    return an edited copy, ``replace(split=...)`` another split of the same data.
    """

    format: str
    path: str
    split: str | None = None
    options: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | DatasetSpec) -> DatasetSpec:
        """``FORMAT:PATH[:SPLIT][?k=v&...]`` -> DatasetSpec; the split is the last ``:`` part, for
        formats that take one."""
        if isinstance(text, DatasetSpec):
            return text
        body, _, query = text.partition("?")
        fmt, sep, rest = body.partition(":")
        if not sep or not rest:
            raise ValueError(f"dataset spec '{body}' must look like FORMAT:PATH[:SPLIT] (formats: {', '.join(list_formats())})")
        path, split = rest, None
        if takes_split(fmt) and ":" in rest:
            path, split = rest.rsplit(":", 1)
        return cls(fmt, path, split, dict(parse_qsl(query, keep_blank_values=True)))

    def with_options(self, options: dict[str, Any] | None = None, **more: Any) -> DatasetSpec:
        """A copy with these options set (replaced where present, else added at the end)."""
        return dataclasses.replace(self, options={**self.options, **{k: str(v) for k, v in {**(options or {}), **more}.items()}})

    def without_options(self, *keys: str) -> DatasetSpec:
        """A copy without the options ``keys``."""
        return dataclasses.replace(self, options={k: v for k, v in self.options.items() if k not in keys})

    def replace(self, **changes: Any) -> DatasetSpec:
        """A copy with other fields (``split=...``, ``path=...``)."""
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        text = f"{self.format}:{self.path}" + (f":{self.split}" if self.split is not None else "")
        if self.options:
            text += "?" + "&".join(f"{quote(k, safe=_SAFE)}={quote(v, safe=_SAFE)}" for k, v in self.options.items())
        return text


_SAFE = ",/:{}.-_~@"  # kept as written: paths, brace patterns and comma lists stay readable


def takes_split(fmt: str) -> bool:
    """Whether specs of ``fmt`` end in ``:SPLIT`` (unknown formats: yes, as most do)."""
    _load_builtin()
    return fmt not in READERS or READERS.get(fmt).takes_split


def open_dataset(spec: str | DatasetSpec, options: dict[str, Any] | None = None) -> Dataset:
    """Open the dataset a spec names; unknown formats get a suggestion."""
    s = DatasetSpec.parse(spec)
    reader = READERS.get(s.format, where=f" in '{spec}'")
    return reader(s.path, s.split, {**(options or {}), **s.options})


def _load_builtin() -> None:
    # Importing the reader modules registers them; done lazily to keep `import jarvl.data` light.
    import jarvl.data.readers  # noqa: F401
