"""WebDataset tar shards, streamed: ``wds:PATTERN`` (e.g. ``wds:/data/cc3m/shard-{000000..000331}.tar``).

Each sample of a shard is the group of members sharing a key (``0001.jpg``, ``0001.txt``):

* an image: ``jpg``, ``jpeg``, ``png`` or ``webp``;
* its text, one of two kinds:

  - a **task record**: a ``json`` object with ``prompt`` or ``target`` (then both are required),
    ``task`` and optionally ``family``, ``answers``, ``id``. It wins over a ``txt`` member;
  - a **caption** (task "caption", prompt "describe the image.", target = the caption), as
    img2dataset writes LAION, CC3M, CC12M and DataComp shards: ``{key}.txt`` holds the caption and
    ``{key}.json`` the metadata (``key``, ``url``, ``caption``, ``status``, ``width``, ``height``,
    ...). The caption is the ``txt`` member, else the json's ``caption`` string; the metadata
    json never hides it and is kept in ``Sample.meta`` (beside ``shard`` and ``key``, which are
    ours and win over the json's). ``.parquet`` files beside the tars are not read.

This reader is an ``IterableDataset``: it has **no random access** (``ds[i]`` is a TypeError) and
``len(ds)`` is a TypeError unless option ``n`` gives an estimate. Iterating yields ``Sample`` s, and
``BadRecord`` *objects* (not raised) for unusable members, so a training loop can count them in
``SkipStats`` and go on: reasons are those of ``jarvl.data.images`` and ``jarvl.data.records``,
``bad_record`` (no text, bad JSON) and ``corrupt_shard`` (a damaged tar; the rest of that shard is
lost). Shards are split over DDP ranks (``RANK``/``WORLD_SIZE``, or torch.distributed) and then
over DataLoader workers (``get_worker_info``), by webdataset's ``split_by_node`` and
``split_by_worker``. Options: ``n``, ``shuffle`` (sample buffer size; 0 = file order), ``seed``,
``max_chars``, ``max_pixels``.

    >>> for item in open_dataset("wds:/data/shard-{000..009}.tar?shuffle=1000"):
    ...     if isinstance(item, BadRecord): stats.add(item.reason, item.source)
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import webdataset as wds
from torch.utils.data import IterableDataset
from webdataset.tariterators import group_by_keys, tar_file_iterator
from webdataset.utils import pytorch_worker_info

from jarvl.data.bad_records import BadRecord
from jarvl.data.images import MAX_PIXELS, decode_image
from jarvl.data.records import MAX_CHARS, clean_text, get_field, get_text, reader_options
from jarvl.data.registry import register_reader
from jarvl.data.schema import TASKS, Sample
from jarvl.data.supervision import supervision_problem

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
PROMPT = "describe the image."
OPTIONS = {"n": 0, "shuffle": 0, "seed": 0, "max_chars": MAX_CHARS, "max_pixels": MAX_PIXELS}


class WdsDataset(IterableDataset):
    """Streams Samples (and BadRecord objects) from WebDataset shards; see the module doc."""

    def __init__(
        self, pattern: str, n: int = 0, shuffle: int = 0, seed: int = 0, max_chars: int = MAX_CHARS, max_pixels: int = MAX_PIXELS
    ) -> None:
        super().__init__()
        self.pattern, self.n, self.shuffle, self.seed = pattern, n, shuffle, seed
        self.max_chars, self.max_pixels = max_chars, max_pixels
        self.shards = wds.shardlists.expand_urls(pattern)
        local = [s for s in self.shards if "://" not in s and not s.startswith("pipe:")]
        missing = [s for s in local if not os.path.isfile(s)]
        if not self.shards or missing:
            raise FileNotFoundError(f"wds:{pattern}: {len(missing)} of {len(self.shards)} shards not found, e.g. {missing[:3]}")

    def __len__(self) -> int:
        if self.n:
            return self.n
        raise TypeError(f"wds:{self.pattern} is a stream of unknown length; give an estimate with ?n=N")

    def __getitem__(self, index: int) -> Sample:
        raise TypeError(f"wds:{self.pattern} is streamed and has no random access; iterate over it instead")

    def __iter__(self) -> Iterator[Sample | BadRecord]:
        rank, world, worker, _ = pytorch_worker_info()
        if len(self.shards) < world:
            raise ValueError(f"wds:{self.pattern}: {len(self.shards)} shards cannot feed {world} ranks (need one each at least)")
        shuffled = self.shuffle > 0
        stages = [
            wds.SimpleShardList(self.shards, seed=self.seed if shuffled else None),
            wds.split_by_node,
            wds.split_by_worker,
            self.shard_samples,
            wds.shuffle(self.shuffle, seed=self.seed * 1_000_003 + rank * 1009 + worker) if shuffled else None,
        ]
        return iter(wds.DataPipeline(*stages))

    def shard_samples(self, shards: Iterator[dict[str, Any]]) -> Iterator[Sample | BadRecord]:
        """Pipeline stage: shard URLs -> decoded Samples, or BadRecords for damaged members/shards."""
        for shard in shards:
            url = shard["url"]
            try:
                with wds.gopen(url) as stream:
                    members = ({**member, "__url__": url} for member in tar_file_iterator(stream))
                    for raw in group_by_keys(members):
                        yield self.decode(raw, url)
            except (tarfile.TarError, OSError, EOFError, ValueError) as err:
                # A damaged tar cannot be resynchronised: skip the rest of this shard, loudly counted.
                yield BadRecord("corrupt_shard", url, str(err))

    def decode(self, raw: dict[str, Any], url: str) -> Sample | BadRecord:
        """One grouped tar sample -> a Sample, or the BadRecord saying why not."""
        key = raw["__key__"]
        source = f"{Path(url).name}:{key}"
        try:
            ext = next((e for e in IMAGE_EXTENSIONS if e in raw), None)
            if ext is None:
                raise BadRecord("missing_image", source, f"no {'/'.join(IMAGE_EXTENSIONS)} member")
            record = self._json(raw["json"], source) if "json" in raw else None
            metadata: dict[str, Any] = {}
            if is_task_record(record):
                fields = self._task_fields(record, source)
            else:
                fields = self._caption_fields(raw.get("txt"), record, source)
                metadata = record or {}
                problem = supervision_problem(metadata)
                if problem:
                    raise BadRecord("bad_record", source, problem)
            image = decode_image(raw[ext], source, self.max_pixels, where=f"{url} member {key}.{ext}")
        except BadRecord as bad:
            return bad
        meta = {**metadata, "shard": url, "key": key}
        return Sample(image=image, image_path="", id=fields.pop("id", key), meta=meta, **fields)

    @staticmethod
    def _json(data: bytes, source: str) -> Any:
        try:
            return json.loads(data.decode("utf-8", errors="replace"))
        except json.JSONDecodeError as err:
            raise BadRecord("bad_record", source, f"json member is not valid JSON ({err.msg})") from None

    def _caption_fields(self, txt: bytes | None, metadata: Any, source: str) -> dict[str, Any]:
        """A caption sample from the ``txt`` member, else the metadata json's ``caption`` string."""
        if metadata is not None and not isinstance(metadata, dict):
            raise BadRecord("bad_record", source, f"json member must be an object, got {type(metadata).__name__}")
        if txt is not None:
            caption = clean_text(txt.decode("utf-8", errors="replace"), "txt", source, self.max_chars)
        elif metadata is not None and isinstance(metadata.get("caption"), str):
            caption = clean_text(metadata["caption"], "caption", source, self.max_chars)
        elif metadata is not None:
            raise BadRecord("bad_record", source, "no txt member, and the json has neither prompt/target nor a caption")
        else:
            raise BadRecord("bad_record", source, "no txt or json member")
        return {"prompt": PROMPT, "target": caption, "task": "caption", "answers": [caption]}

    def _task_fields(self, record: dict[str, Any], source: str) -> dict[str, Any]:
        task = get_field(record, "task", str, source)
        if task not in TASKS:
            raise BadRecord("bad_record", source, f"task {task!r} is not one of {', '.join(TASKS)}")
        fields = {
            "prompt": get_text(record, "prompt", source, self.max_chars),
            "target": get_text(record, "target", source, self.max_chars),
            "task": task,
            "family": get_field(record, "family", str, source) if "family" in record else "",
        }
        answers = get_field(record, "answers", list, source) if "answers" in record else [fields["target"]]
        if not all(isinstance(a, str) for a in answers):
            raise BadRecord("bad_record", source, "field 'answers' must be a list of strings")
        fields["answers"] = [clean_text(a, "answers", source, self.max_chars, allow_empty=True) for a in answers]
        if "id" in record:
            fields["id"] = str(get_field(record, "id", (str, int), source))
        return fields


def is_task_record(record: Any) -> bool:
    """Whether a json member is a task record (it has ``prompt`` or ``target``), not metadata."""
    return isinstance(record, dict) and ("prompt" in record or "target" in record)


@register_reader("wds", split=False)
def open_wds(path: str, split: str | None, options: dict[str, Any]) -> WdsDataset:
    """``wds:PATTERN[?n=N&shuffle=N&seed=N]``: brace-expanded shard paths (or ``pipe:``/URLs)."""
    return WdsDataset(path, **reader_options(options, OPTIONS, "wds"))
