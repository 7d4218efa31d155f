"""The reader of the built-in synthetic data: ``synthetic:TASK[:SPLIT]?n=...&seed=...&<SynthConfig fields>``."""

from __future__ import annotations

from typing import Any

from jarvl.config import from_dict
from jarvl.data.registry import register_reader
from jarvl.data.synthetic import SynthConfig, SyntheticDataset


@register_reader("synthetic")
def open_synthetic(path: str, split: str | None, options: dict[str, Any]) -> SyntheticDataset:
    """``synthetic:vqa:train?n=50000&seed=0&min_objects=3&max_objects=6``; the path is the task.

    Options ``n`` (size, default 10000), ``seed`` and ``questions_per_image`` (K questions about each
    scene, VQA only: see ``SyntheticDataset``); any other option is a ``SynthConfig`` field.
    """
    opts = dict(options)
    size = int(opts.pop("n", 10_000))
    seed = int(opts.pop("seed", 0))
    per_image = int(opts.pop("questions_per_image", 1))
    config = from_dict(SynthConfig, {k: _parse(v) for k, v in opts.items()}) if opts else SynthConfig()
    return SyntheticDataset(task=path, split=split or "train", size=size, seed=seed, config=config, questions_per_image=per_image)


def _parse(value: Any) -> Any:
    if isinstance(value, str) and "," in value:
        return [v for v in value.split(",") if v]
    return value
