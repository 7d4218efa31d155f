"""GQA (Hudson & Manning, 2019) in its official layout: ``gqa:ROOT:SPLIT``.

Files as downloaded from cs.stanford.edu/people/dorarad/gqa (SPLIT e.g. ``val_balanced``,
``testdev_balanced``, ``train_balanced``; the sharded ``train_all_questions/`` folder is not
read)::

    ROOT/{SPLIT}_questions.json    {question id: {"imageId", "question", "answer", "fullAnswer",
                                    "isBalanced", "types": {"structural", "semantic", "detailed"}, ...}}
    IMAGES/{imageId}.jpg           (IMAGES = ROOT/images, or option image_root)

Each question is one ``Sample``: prompt = question, target = answer ("" in the test/submission
files, which have none), answers = [answer], family = ``types.structural`` (query, verify, logical,
choose, compare), meta = question_id, image_id, full_answer, semantic, detailed, is_balanced.
Options: ``image_root``, ``max_chars``, ``max_pixels``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jarvl.data.images import MAX_PIXELS, with_image
from jarvl.data.records import MAX_CHARS, get_field, get_text, read_json, reader_options, top_level
from jarvl.data.registry import register_reader
from jarvl.data.schema import Sample

OPTIONS = {"image_root": "", "max_chars": MAX_CHARS, "max_pixels": MAX_PIXELS}


class GqaDataset:
    """Questions of one GQA split; the file is parsed on construction, records checked when read."""

    task = "vqa"

    def __init__(
        self, root: str | Path, split: str, image_root: str = "", max_chars: int = MAX_CHARS, max_pixels: int = MAX_PIXELS
    ) -> None:
        self.root, self.split = Path(root), split
        self.image_root = Path(image_root) if image_root else self.root / "images"
        self.max_chars, self.max_pixels = max_chars, max_pixels
        path = self.root / f"{split}_questions.json"
        if not path.is_file():
            raise FileNotFoundError(f"GQA questions {path} not found (spec gqa:ROOT:SPLIT, e.g. gqa:/data/gqa:val_balanced)")
        self.questions: dict[str, Any] = top_level(read_json(path), None, dict, path)
        self.ids = list(self.questions)

    def __len__(self) -> int:
        return len(self.ids)

    def record(self, index: int) -> Sample:
        """Question ``index`` (in file order) as a checked ``Sample`` without pixels."""
        qid = self.ids[index]
        q = self.questions[qid]
        source = qid
        image_id = str(get_field(q, "imageId", (str, int), source))
        question = get_text(q, "question", source, self.max_chars)
        answer = get_text(q, "answer", source, self.max_chars) if "answer" in q else ""
        types = get_field(q, "types", dict, source) if "types" in q else {}
        return Sample(
            prompt=question,
            target=answer,
            task=self.task,
            image_path=str(self.image_root / f"{image_id}.jpg"),
            family=str(types.get("structural", "")),
            id=qid,
            answers=[answer] if answer else [],
            meta={
                "question_id": qid,
                "image_id": image_id,
                "full_answer": q.get("fullAnswer", ""),
                "semantic": types.get("semantic", ""),
                "detailed": types.get("detailed", ""),
                "is_balanced": bool(q.get("isBalanced", True)),
            },
        )

    def __getitem__(self, index: int) -> Sample:
        return with_image(self.record(index), self.max_pixels)


@register_reader("gqa")
def open_gqa(path: str, split: str | None, options: dict[str, Any]) -> GqaDataset:
    """``gqa:ROOT:SPLIT[?image_root=DIR&max_chars=N&max_pixels=N]``."""
    if not split:
        raise ValueError(f"gqa needs a split: gqa:{path}:SPLIT (e.g. val_balanced, testdev_balanced)")
    return GqaDataset(path, split, **reader_options(options, OPTIONS, "gqa"))
