"""COCO Captions (Chen et al., 2015) in both of its layouts: ``coco-captions:ROOT:SPLIT``.

Karpathy split (SPLIT: train, val, test, restval; ``train`` includes ``restval``, the usual
113,287-image training set)::

    ROOT/dataset_coco.json   {"images": [{"filepath", "filename", "split", "cocoid",
                              "sentences": [{"raw", "tokens"}, ...]}]}
    IMAGES/{filepath}/{filename}

Official annotations (SPLIT: train2014, val2014, train2017, val2017)::

    ROOT/annotations/captions_{SPLIT}.json   {"images": [{"id", "file_name"}],
                                              "annotations": [{"image_id", "caption"}]}
    IMAGES/{SPLIT}/{file_name}

IMAGES is ROOT or option ``image_root``. Option ``layout`` (auto, karpathy, official) picks one;
``auto`` takes Karpathy when ``dataset_coco.json`` exists and SPLIT is a Karpathy split.

One ``Sample`` per image (target = first caption, answers = all captions, id = the COCO image id),
or, with option ``per_caption=1`` (for training), one per caption (target = that caption, answers
still all captions, id = ``"{image_id}/{k}"``). task "caption", prompt "describe the image.",
meta = image_id, caption_index. Also ``max_chars``, ``max_pixels``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from jarvl.data.bad_records import BadRecord
from jarvl.data.images import MAX_PIXELS, with_image
from jarvl.data.records import MAX_CHARS, get_field, get_text, read_json, reader_options, top_level
from jarvl.data.registry import register_reader
from jarvl.data.schema import Sample

PROMPT = "describe the image."
KARPATHY_SPLITS = {"train": ("train", "restval"), "val": ("val",), "test": ("test",), "restval": ("restval",)}
OPTIONS = {"image_root": "", "layout": "auto", "per_caption": False, "max_chars": MAX_CHARS, "max_pixels": MAX_PIXELS}


class CocoCaptionsDataset:
    """Images (or captions) of one COCO split; JSON parsed on construction, records checked when read.

    ``self.images`` holds the split's raw image entries, ``self.items`` the
    ``(image index, caption index or None)`` pairs that are the dataset's records.
    """

    task = "caption"

    def __init__(
        self,
        root: str | Path,
        split: str,
        image_root: str = "",
        layout: str = "auto",
        per_caption: bool = False,
        max_chars: int = MAX_CHARS,
        max_pixels: int = MAX_PIXELS,
    ) -> None:
        self.root, self.split = Path(root), split
        self.image_root = Path(image_root) if image_root else self.root
        self.max_chars, self.max_pixels = max_chars, max_pixels
        karpathy, official = self.root / "dataset_coco.json", self.root / "annotations" / f"captions_{split}.json"
        if layout == "auto":
            layout = "karpathy" if split in KARPATHY_SPLITS and karpathy.is_file() else "official"
        self.layout = layout
        self.captions: dict[int, list[Any]] = defaultdict(list)  # official layout: image id -> annotations
        if layout == "karpathy":
            if split not in KARPATHY_SPLITS:
                raise ValueError(f"Karpathy split {split!r} must be one of {', '.join(KARPATHY_SPLITS)}")
            if not karpathy.is_file():
                raise FileNotFoundError(f"COCO Karpathy split file {karpathy} not found")
            images = top_level(read_json(karpathy), "images", list, karpathy)
            # An entry without a readable split is kept, so that reading it reports a BadRecord.
            keep = KARPATHY_SPLITS[split]
            self.images = [img for img in images if not isinstance(img, dict) or img.get("split", keep[0]) in keep]
        elif layout == "official":
            if not official.is_file():
                raise FileNotFoundError(f"COCO captions: neither {karpathy} (Karpathy splits train/val/test/restval) nor {official} found")
            data = read_json(official)
            self.images = top_level(data, "images", list, official)
            for ann in top_level(data, "annotations", list, official):
                if isinstance(ann, dict) and isinstance(ann.get("image_id"), int):
                    self.captions[ann["image_id"]].append(ann)
        else:
            raise ValueError(f"option layout={layout!r} must be auto, karpathy or official")
        self.items: list[tuple[int, int | None]] = [
            (i, k) for i, img in enumerate(self.images) for k in (range(self._count(img)) if per_caption else [None])
        ]

    def _raw_captions(self, img: Any) -> Any:
        if self.layout == "karpathy":
            return img.get("sentences") if isinstance(img, dict) else None
        image_id = img.get("id") if isinstance(img, dict) else None
        return self.captions.get(image_id, []) if isinstance(image_id, int) else None

    def _count(self, img: Any) -> int:
        raw = self._raw_captions(img)
        return len(raw) if isinstance(raw, list) and raw else 1  # 1: the record that reports the problem

    def __len__(self) -> int:
        return len(self.items)

    def record(self, index: int) -> Sample:
        """Image (or caption) ``index`` as a checked ``Sample`` without pixels."""
        i, k = self.items[index]
        img = self.images[i]
        key = "cocoid" if self.layout == "karpathy" else "id"
        image_id = img.get(key) if isinstance(img, dict) else None
        source = (str(image_id) if k is None else f"{image_id}/{k}") if isinstance(image_id, int) else f"images[{i}]"
        image_id = get_field(img, key, int, source)
        if self.layout == "karpathy":
            path = Path(get_field(img, "filepath", str, source)) / get_field(img, "filename", str, source)
        else:
            path = Path(self.split) / get_field(img, "file_name", str, source)
        raw = self._raw_captions(img)
        if not isinstance(raw, list) or not raw:
            raise BadRecord("bad_record", source, "no captions")
        text_key = "raw" if self.layout == "karpathy" else "caption"
        captions = [get_text(c, text_key, source, self.max_chars) for c in raw]
        return Sample(
            prompt=PROMPT,
            target=captions[k or 0],
            task=self.task,
            image_path=str(self.image_root / path),
            id=str(image_id) if k is None else f"{image_id}/{k}",
            answers=captions,
            meta={"image_id": image_id, "caption_index": k or 0},
        )

    def __getitem__(self, index: int) -> Sample:
        return with_image(self.record(index), self.max_pixels)


@register_reader("coco-captions")
def open_coco_captions(path: str, split: str | None, options: dict[str, Any]) -> CocoCaptionsDataset:
    """``coco-captions:ROOT:SPLIT[?per_caption=1&layout=karpathy&image_root=DIR]``."""
    if not split:
        raise ValueError(f"coco-captions needs a split: coco-captions:{path}:SPLIT (Karpathy train/val/test or e.g. val2014)")
    return CocoCaptionsDataset(path, split, **reader_options(options, OPTIONS, "coco-captions"))
