"""Text from real datasets: decode JSON files robustly, read typed record fields, clean strings.

Two kinds of failure, kept apart on purpose (STYLE rule 10):

* a file that cannot be read at all (JSON cut short, wrong top-level schema, unknown reader
  option) is a ``ValueError`` naming the file (and line/column) raised when the dataset is opened;
* one unusable record (missing field, wrong type, empty or far too long text) is a ``BadRecord``
  raised when the record is read, so a long run skips and counts it. Readers give it the
  record's ``Sample.id`` as ``source`` (its position in the file when the id is unreadable).

Files are decoded as UTF-8 with ``errors="replace"``: a stray Latin-1 byte becomes U+FFFD in that
one string instead of failing the whole file.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from typing import Any

from jarvl.data.bad_records import BadRecord
from jarvl.registry import did_you_mean

MAX_CHARS = 2000
_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACE = re.compile(r"\s+")


def clean_text(text: str, field: str, source_id: str, max_chars: int = MAX_CHARS, allow_empty: bool = False) -> str:
    """NFKC-normalised ``text`` without control/format characters and with single spaces.

    Lone surrogates (from ``"\\ud800"`` JSON escapes) become U+FFFD; tabs and newlines become
    spaces; other control (Cc) and format (Cf: zero-width space, BOM, ...) characters are dropped.
    Long text is the tokenizer's business (it truncates); only text beyond ``max_chars`` after
    cleaning is refused, as no real question or caption is that long.

    Raises:
        BadRecord: ``empty_text`` when nothing is left (unless ``allow_empty``), ``text_too_long``
            beyond ``max_chars``; the message names ``field`` and ``source_id``.
    """
    text = _SURROGATE.sub("\ufffd", text)
    text = unicodedata.normalize("NFKC", text)
    text = "".join(map(_visible, text))
    text = _SPACE.sub(" ", text).strip()
    if not text and not allow_empty:
        raise BadRecord("empty_text", source_id, f"field {field!r} is empty")
    if len(text) > max_chars:
        raise BadRecord("text_too_long", source_id, f"field {field!r} has {len(text)} > {max_chars} characters")
    return text


def _visible(c: str) -> str:
    if c in "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85":
        return " "
    return "" if unicodedata.category(c) in ("Cc", "Cf") else c


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file (UTF-8, bad bytes replaced); ValueError names the file, line and column."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        data = f.read()
    try:
        return json.loads(data)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}: not valid JSON at line {err.lineno}, column {err.colno} (char {err.pos}): {err.msg}"
            + ("; the file is cut short" if data.rstrip()[-1:] not in ("}", "]") else "")
        ) from None


def read_jsonl(path: str | os.PathLike) -> list[tuple[int, Any]]:
    """``(line number, value)`` of each non-blank line of a JSONL file; ValueError names file and line."""
    records = []
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                records.append((number, json.loads(line)))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {number}, column {err.colno}: not valid JSON ({err.msg})") from None
    return records


def top_level(data: Any, key: str | None, kind: type, path: str | os.PathLike) -> Any:
    """``data[key]`` (or ``data`` itself when ``key`` is None), which must be a ``kind``.

    For the open-time check of a file's schema: the ValueError names the file and the key.
    """
    if key is not None:
        if not isinstance(data, dict) or key not in data:
            found = ", ".join(map(repr, list(data)[:8])) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"{path}: missing top-level key {key!r} (found: {found})")
        data = data[key]
    if not isinstance(data, kind):
        what = f"top-level key {key!r}" if key else "top level"
        raise ValueError(f"{path}: {what} must be a JSON {_json_name(kind)}, got {type(data).__name__}")
    return data


def get_field(record: Any, key: str, kind: type | tuple[type, ...], source_id: str) -> Any:
    """``record[key]`` checked to be a ``kind`` (bools are not ints); BadRecord ``bad_record`` if not."""
    if not isinstance(record, dict):
        raise BadRecord("bad_record", source_id, f"expected a JSON object, got {type(record).__name__}")
    if key not in record:
        raise BadRecord("bad_record", source_id, f"missing field {key!r}")
    value = record[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise BadRecord("bad_record", source_id, f"field {key!r} has type {type(value).__name__}")
    return value


def get_text(record: Any, key: str, source_id: str, max_chars: int = MAX_CHARS, allow_empty: bool = False) -> str:
    """``clean_text`` of the string field ``record[key]`` (BadRecord when missing or not a string)."""
    return clean_text(get_field(record, key, str, source_id), key, source_id, max_chars, allow_empty)


def reader_options(options: dict[str, Any], defaults: dict[str, Any], reader: str) -> dict[str, Any]:
    """``defaults`` updated with ``options`` converted to each default's type.

    Options come as strings from a spec (``?n=3``) or typed from a config. An unknown key is a
    ValueError naming it and suggesting the closest valid one.
    """
    out = dict(defaults)
    for key, value in options.items():
        if key not in defaults:
            hint = did_you_mean(key, defaults)
            raise ValueError(f"unknown option {key!r} for reader {reader!r}{hint} (valid: {', '.join(sorted(defaults))})")
        kind = type(defaults[key]) if defaults[key] is not None else str
        try:
            out[key] = _convert(value, kind)
        except ValueError:
            raise ValueError(f"option {key!r} of reader {reader!r} must be {kind.__name__}, got {value!r}") from None
    return out


def _convert(value: Any, kind: type) -> Any:
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise ValueError(value)
        return value.lower() in ("1", "true", "yes")
    return kind(value)


def _json_name(kind: type) -> str:
    return {dict: "object", list: "array", str: "string", int: "integer"}.get(kind, kind.__name__)
