"""Readers for the built-in synthetic data (``synthetic:TASK[:SPLIT]``) and the generic ``jsonl:PATH``."""

from __future__ import annotations

from typing import Any

from jarvl.config import from_dict
from jarvl.data.images import MAX_PIXELS
from jarvl.data.jsonl import JsonlDataset
from jarvl.data.registry import register_reader
from jarvl.data.synthetic import SynthConfig, SyntheticDataset
from jarvl.data.text import MAX_CHARS, reader_options

SYNTH_OPTIONS = ("n", "seed")


@register_reader("synthetic")
def open_synthetic(path: str, split: str | None, options: dict[str, Any]) -> SyntheticDataset:
    """``synthetic:vqa:train?n=50000&seed=0&min_objects=3&max_objects=6``; the path is the task.

    Options ``n`` (size, default 10000) and ``seed``; any other option is a ``SynthConfig`` field.
    """
    opts = dict(options)
    size = int(opts.pop("n", 10_000))
    seed = int(opts.pop("seed", 0))
    config = from_dict(SynthConfig, {k: _parse(v) for k, v in opts.items()}) if opts else SynthConfig()
    return SyntheticDataset(task=path, split=split or "train", size=size, seed=seed, config=config)


def _parse(value: Any) -> Any:
    if isinstance(value, str) and "," in value:
        return [v for v in value.split(",") if v]
    return value


@register_reader("jsonl")
def open_jsonl(path: str, split: str | None, options: dict[str, Any]) -> JsonlDataset:
    """``jsonl:PATH?max_chars=2000&max_pixels=67108864``: the generic index written by ``jarvl data synth``."""
    opts = reader_options(options, {"max_chars": MAX_CHARS, "max_pixels": MAX_PIXELS}, "jsonl")
    return JsonlDataset(path, **opts)
