"""The generic on-disk dataset format (``jsonl:PATH``): a JSONL index of image-text records, its reader and writer.

One JSON object per line of ``index.jsonl``::

    {"image": "images/0000000.png", "prompt": "what color is the square?", "target": "red",
     "task": "vqa", "family": "attribute", "id": "q17", "answers": ["red"]}

Required: ``image`` (path relative to the index file's folder, or absolute), ``prompt``,
``target``, ``task`` (one of ``TASKS``). Optional: ``family`` (str), ``id`` (str or int; default
``"<line number>"``), ``answers`` (list of str), ``meta`` (object; its supervision fields, such as
``objects`` and ``phrases``, as ``jarvl.data.supervision`` describes). Blank lines are skipped. Any
other key, a line that is not JSON, a missing field or a wrong type is a ``ValueError`` naming the
file and line, raised when the index is opened, not in the middle of training.

One unusable record is skipped and counted instead (a ``BadRecord`` when it is read, naming the
file and line): a line that is not UTF-8 (``not_utf8``), a prompt or target that is empty after
cleaning (``empty_text``) or longer than ``max_chars`` (``text_too_long``, see ``jarvl.data.records``),
and an unusable image (``jarvl.data.images``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from jarvl.data.bad_records import BadRecord
from jarvl.data.images import MAX_PIXELS, load_image
from jarvl.data.records import MAX_CHARS, clean_text, reader_options
from jarvl.data.registry import register_reader
from jarvl.data.schema import TASKS, Sample
from jarvl.data.supervision import check_supervision

INDEX = "index.jsonl"
_REQUIRED = {"image": str, "prompt": str, "target": str, "task": str}
_OPTIONAL = {"family": str, "id": (str, int), "answers": list, "meta": dict}


def _check(record: Any, where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for key in record:
        if key not in _REQUIRED and key not in _OPTIONAL:
            valid = ", ".join([*_REQUIRED, *_OPTIONAL])
            raise ValueError(f"{where}: unknown field {key!r} (valid: {valid})")
    for key, kind in {**_REQUIRED, **_OPTIONAL}.items():
        if key not in record:
            if key in _REQUIRED:
                raise ValueError(f"{where}: missing required field {key!r}")
            continue
        value = record[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{where}: field {key!r} has type {type(value).__name__}")
    if record["task"] not in TASKS:
        raise ValueError(f"{where}: task {record['task']!r} is not one of {', '.join(TASKS)}")
    if not all(isinstance(a, str) for a in record.get("answers", [])):
        raise ValueError(f"{where}: field 'answers' must be a list of strings")
    check_supervision(record.get("meta", {}), where, record["prompt"])
    return record


def read_index(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Parse and validate every record of a JSONL index (ValueError names file and line).

    Each record gets ``_line`` (its line number). A line that is not UTF-8 becomes a placeholder
    ``{"_line": N, "_bad": detail}`` that the dataset reports as a skipped record.
    """
    records = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                records.append({"_line": number, "_bad": f"byte {raw[err.start]:#04x} at column {err.start + 1} is not UTF-8"})
                continue
            if not line.strip():
                continue
            where = f"{path}, line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: not valid JSON ({err.msg})") from None
            record = _check(record, where)
            record.setdefault("id", str(number))
            records.append({**record, "_line": number})
    if not records:
        raise ValueError(f"{path}: no records")
    return records


class JsonlDataset:
    """Samples of a JSONL index (the index file, or a folder holding ``index.jsonl``).

    The index is read and validated on construction; texts are checked and images loaded (by
    ``jarvl.data.images.load_image``) when a record is read, so an empty or over-long text, a
    line that is not UTF-8 and a missing or damaged image are each a ``BadRecord``.
    """

    def __init__(self, path: str | os.PathLike, max_chars: int = MAX_CHARS, max_pixels: int = MAX_PIXELS) -> None:
        path = Path(path)
        self.path = path / INDEX if path.is_dir() else path
        self.root = self.path.parent
        self.records = read_index(self.path)
        self.max_chars, self.max_pixels = max_chars, max_pixels

    def __len__(self) -> int:
        return len(self.records)

    def record(self, index: int) -> Sample:
        """Record ``index`` with checked texts and no pixels (``image_path`` set); BadRecord if unusable."""
        r = self.records[index]
        where = f"{self.path}, line {r['_line']}"
        if "_bad" in r:
            raise BadRecord("not_utf8", where, r["_bad"])
        source = str(r["id"])
        try:
            prompt, target = (clean_text(r[k], k, source, self.max_chars) for k in ("prompt", "target"))
        except BadRecord as bad:
            raise BadRecord(bad.reason, source, f"{bad.detail}; {where}") from None
        return Sample(
            prompt=prompt,
            target=target,
            task=r["task"],
            image_path=str(self.root / r["image"]),  # an absolute r["image"] replaces the root
            family=r.get("family", ""),
            id=source,
            answers=list(r.get("answers", [])),
            meta=dict(r.get("meta", {})),
        )

    def __getitem__(self, index: int) -> Sample:
        s = self.record(index)
        return dataclasses.replace(s, image=load_image(s.image_path, s.id, self.max_pixels))


def write_jsonl_dataset(samples: Iterable[Sample], out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write samples as ``out_dir/images/<n>.png`` plus ``out_dir/index.jsonl``; returns the index.

    A sample without pixels keeps its ``image_path`` (made absolute). ``meta`` is written when not
    empty and must then be JSON-serialisable. Refuses to replace an existing index unless
    ``overwrite``.
    """
    out = Path(out_dir)
    index = out / INDEX
    if index.exists() and not overwrite:
        raise ValueError(f"{index} already exists; choose another folder or pass --overwrite")
    (out / "images").mkdir(parents=True, exist_ok=True)
    with open(index, "w", encoding="utf-8") as f:
        for n, s in enumerate(samples):
            if s.image is not None:
                image = f"images/{n:07d}.png"
                Image.fromarray(np.asarray(s.image, dtype=np.uint8)).save(out / image)
            elif s.image_path:
                image = str(Path(s.image_path).resolve())
            else:
                raise ValueError(f"sample {s.id or n!r} has neither image nor image_path")
            record = {"image": image, "prompt": s.prompt, "target": s.target, "task": s.task, "family": s.family, "id": s.id or str(n)}
            if s.answers:
                record["answers"] = list(s.answers)
            if s.meta:
                record["meta"] = s.meta
            try:
                f.write(json.dumps(record) + "\n")
            except TypeError as err:
                where = f"sample {record['id']!r}"
                raise ValueError(f"{where}: meta is not JSON-serialisable ({err})") from None
    return index


@register_reader("jsonl", split=False)
def open_jsonl(path: str, split: str | None, options: dict[str, Any]) -> JsonlDataset:
    """``jsonl:PATH?max_chars=2000&max_pixels=67108864``: the generic index written by ``jarvl data synth``."""
    opts = reader_options(options, {"max_chars": MAX_CHARS, "max_pixels": MAX_PIXELS}, "jsonl")
    return JsonlDataset(path, **opts)
