"""Typed dataclass configs: strict construction from dicts, dotted overrides, YAML files.

An unknown key or a value of the wrong type is an error that names the key and suggests the
closest valid one (STYLE.md rule 5), so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from jarvl.registry import closest

T = TypeVar("T")


class ConfigError(ValueError):
    """A config key is unknown or its value has the wrong type."""


def _suggest(key: str, cls: type, prefix: str = "") -> str:
    """'; did you mean 'PREFIX.NAME'?' for an unknown ``key`` of dataclass ``cls`` at ``prefix``.

    The suggestion is a full dotted key, ready to paste into ``--set``: first the closest field of
    ``cls`` itself, else the closest field of a nested section (``lr`` -> ``optim.lr``).
    """
    own = list(typing.get_type_hints(cls))
    close = closest(key, own, cutoff=0.5)
    if close:
        return f"; did you mean '{prefix}{close}'?"
    nested = _dotted_keys(cls)
    by_leaf = {k.rsplit(".", 1)[-1]: k for k in reversed(nested)}  # the shallowest wins a tie
    close = closest(key, by_leaf, cutoff=0.75)
    if close:
        return f"; did you mean '{prefix}{by_leaf[close]}'?"
    return f"; valid keys: {', '.join(prefix + k for k in sorted(own))}"


def _dotted_keys(cls: type, prefix: str = "") -> list[str]:
    """Every leaf key of dataclass ``cls`` as a dotted path, breadth-first."""
    hints = typing.get_type_hints(cls)
    leaves = [prefix + k for k, tp in hints.items() if not dataclasses.is_dataclass(tp)]
    for k, tp in hints.items():
        if dataclasses.is_dataclass(tp):
            leaves += _dotted_keys(tp, f"{prefix}{k}.")
    return leaves


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; convert strings from the command line."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: cannot be None")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {list(allowed)}")
        return value
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v != ""]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        _, vt = typing.get_args(tp) or (Any, Any)
        return {str(k): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}")
        return from_dict(tp, value, prefix=f"{where}.")
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ``ConfigError``."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"unknown config key '{prefix}{key}'{_suggest(key, cls, prefix)}")
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}")
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON/YAML-serialisable dict of a (nested) dataclass config; tuples become lists."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def flatten_dict(d: dict[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested mappings as one level of ``a.b.c`` keys (``sep`` between the parts)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten_dict(v, f"{prefix}{k}{sep}", sep))
        else:
            out[f"{prefix}{k}"] = v
    return out


def apply_overrides(cfg: T, overrides: list[str] | dict[str, Any], prefix: str = "") -> T:
    """Return a copy of ``cfg`` with dotted ``key=value`` overrides applied (``fusion.num_tokens=32``).

    Values are parsed by the field's declared type, so ``--set model.width=256`` sets an int.
    ``prefix`` (e.g. ``"model."``) is where ``cfg`` sits in a larger config: error messages name
    the full key.
    """
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = []
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override '{item}' must look like key=value")
            key, value = item.split("=", 1)
            items.append((key.strip(), value.strip()))
    data = to_dict(cfg)
    for key, value in items:
        _set_dotted(type(cfg), data, key.split("."), value, prefix + key)
    return from_dict(type(cfg), data)


def _set_dotted(cls: type, data: dict[str, Any], path: list[str], value: Any, full: str) -> None:
    hints = typing.get_type_hints(cls)
    head = path[0]
    if head not in hints:
        prefix = full[: len(full) - len(".".join(path))]
        raise ConfigError(f"unknown config key '{full}'{_suggest(head, cls, prefix)}")
    if len(path) == 1:
        data[head] = _coerce(value, hints[head], full)
        if dataclasses.is_dataclass(data[head]):
            data[head] = to_dict(data[head])
        return
    sub = hints[head]
    if typing.get_origin(sub) is dict and len(path) == 2:  # one entry of a mapping field (grounding.labels.color)
        _, vt = typing.get_args(sub) or (Any, Any)
        data[head] = {**(data.get(head) or {}), path[1]: _coerce(value, vt, full)}
        return
    if not dataclasses.is_dataclass(sub):
        raise ConfigError(f"config key '{head}' in '{full}' has no sub-keys")
    _set_dotted(sub, data[head], path[1:], value, full)


Bounds = dict[str, tuple[float | None, float | None]]


def range_problems(section: Any, prefix: str, bounds: Bounds) -> list[str]:
    """``'PREFIX.KEY must be >= LO, got V'`` for each numeric field of ``section`` outside its bounds.

    ``bounds`` maps a field name to ``(lo, hi)``, both inclusive, None for no bound. NaN and
    infinities are always out of range.
    """
    import math

    problems = []
    for key, (lo, hi) in bounds.items():
        value = getattr(section, key)
        ok = math.isfinite(value) and (lo is None or value >= lo) and (hi is None or value <= hi)
        if not ok:
            want = f"in [{lo:g}, {hi:g}]" if lo is not None and hi is not None else f">= {lo:g}" if lo is not None else f"<= {hi:g}"
            problems.append(f"{prefix}{key} must be {want}, got {value!r}")
    return problems


def load_yaml(path: str) -> dict[str, Any]:
    """Read a YAML mapping, naming the file on any error."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {path}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data
