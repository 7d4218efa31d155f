"""SNLI-VE (Xie et al., 2019) in its released layout: ``snli-ve:ROOT:SPLIT``.

Files as built by github.com/necla-ml/SNLI-VE (SPLIT: train, dev, test)::

    ROOT/snli_ve_{SPLIT}.jsonl     one JSON object a line: {"Flickr30K_ID", "sentence2",
                                    "gold_label", "pairID", "sentence1", ...}
    IMAGES/{Flickr30K_ID}.jpg      (IMAGES = ROOT/flickr30k_images, or option image_root:
                                    ``snli-ve:/data/snli-ve:dev?image_root=/data/flickr30k_images``)

Each line is one ``Sample``: task "entailment", prompt = the hypothesis (``sentence2``; the
premise is the image), target = family = ``gold_label`` (entailment / neutral / contradiction),
id = ``pairID``, meta = pair_id, image_id. Options: ``image_root``, ``max_chars``, ``max_pixels``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jarvl.data.bad_records import BadRecord
from jarvl.data.images import MAX_PIXELS, with_image
from jarvl.data.records import MAX_CHARS, get_field, get_text, read_jsonl, reader_options
from jarvl.data.registry import register_reader
from jarvl.data.schema import Sample

LABELS = ("entailment", "neutral", "contradiction")
OPTIONS = {"image_root": "", "max_chars": MAX_CHARS, "max_pixels": MAX_PIXELS}


class SnliVeDataset:
    """Pairs of one SNLI-VE split; every line is parsed on construction (ValueError names the line)."""

    task = "entailment"

    def __init__(
        self, root: str | Path, split: str, image_root: str = "", max_chars: int = MAX_CHARS, max_pixels: int = MAX_PIXELS
    ) -> None:
        self.root, self.split = Path(root), split
        self.image_root = Path(image_root) if image_root else self.root / "flickr30k_images"
        self.max_chars, self.max_pixels = max_chars, max_pixels
        self.path = self.root / f"snli_ve_{split}.jsonl"
        if not self.path.is_file():
            raise FileNotFoundError(f"SNLI-VE pairs {self.path} not found (spec snli-ve:ROOT:SPLIT with SPLIT train/dev/test)")
        self.lines = read_jsonl(self.path)

    def __len__(self) -> int:
        return len(self.lines)

    def record(self, index: int) -> Sample:
        """Pair ``index`` as a checked ``Sample`` without pixels."""
        number, r = self.lines[index]
        pair_id = r.get("pairID") if isinstance(r, dict) else None
        source = pair_id if isinstance(pair_id, str) else f"{self.path.name} line {number}"
        image_id = str(get_field(r, "Flickr30K_ID", (str, int), source))
        hypothesis = get_text(r, "sentence2", source, self.max_chars)
        label = get_text(r, "gold_label", source, self.max_chars).lower()
        if label not in LABELS:
            raise BadRecord("bad_record", source, f"gold_label {label!r} is not one of {', '.join(LABELS)}")
        sample_id = pair_id if isinstance(pair_id, str) else str(number)
        return Sample(
            prompt=hypothesis,
            target=label,
            task=self.task,
            image_path=str(self.image_root / f"{image_id}.jpg"),
            family=label,
            id=sample_id,
            answers=[label],
            meta={"pair_id": sample_id, "image_id": image_id},
        )

    def __getitem__(self, index: int) -> Sample:
        return with_image(self.record(index), self.max_pixels)


@register_reader("snli-ve")
def open_snli_ve(path: str, split: str | None, options: dict[str, Any]) -> SnliVeDataset:
    """``snli-ve:ROOT:SPLIT[?image_root=DIR&max_chars=N&max_pixels=N]``."""
    if not split:
        raise ValueError(f"snli-ve needs a split: snli-ve:{path}:SPLIT (train, dev or test)")
    return SnliVeDataset(path, split, **reader_options(options, OPTIONS, "snli-ve"))
