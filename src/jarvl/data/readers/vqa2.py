"""VQA v2 (Goyal et al., 2017) in its official layout: ``vqa2:ROOT:SPLIT``.

Files, exactly as downloaded from visualqa.org (SPLIT e.g. ``train2014``, ``val2014``,
``test2015``, ``test-dev2015``)::

    ROOT/v2_OpenEnded_mscoco_{SPLIT}_questions.json   {"questions": [{"image_id", "question", "question_id"}]}
    ROOT/v2_mscoco_{SPLIT}_annotations.json           {"annotations": [{"question_id", "image_id",
        "answers": [{"answer", "answer_confidence", "answer_id"}] x 10, "multiple_choice_answer",
        "answer_type", "question_type"}]}                (absent for the test splits)
    IMAGES/{ISPLIT}/COCO_{ISPLIT}_{image_id:012d}.jpg  (IMAGES = ROOT or option image_root;
                                                        ISPLIT = SPLIT, test2015 for test-dev2015)

Each question is one ``Sample``: prompt = question, target = ``multiple_choice_answer`` ("" when
unannotated), answers = the ten human answers, family = ``answer_type``, meta = question_type,
question_id, image_id. Options: ``image_root``, ``max_chars`` (see ``jarvl.data.records``),
``max_pixels`` (see ``jarvl.data.images``).

    >>> ds = open_dataset("vqa2:/data/vqa:val2014?image_root=/data/coco")
    >>> ds.record(0)   # checked labels, no pixels (fast: scoring)
    >>> ds[0]          # the same Sample with image uint8[H, W, 3]; BadRecord if unusable
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jarvl.data.bad_records import BadRecord
from jarvl.data.images import MAX_PIXELS, with_image
from jarvl.data.records import MAX_CHARS, get_field, get_text, read_json, reader_options, top_level
from jarvl.data.registry import register_reader
from jarvl.data.schema import Sample

IMAGE_SPLIT = {"test-dev2015": "test2015"}  # test-dev questions use test2015 images
OPTIONS = {"image_root": "", "max_chars": MAX_CHARS, "max_pixels": MAX_PIXELS}


def questions_file(root: str | Path, split: str) -> Path:
    """Where the questions of ``split`` live under ``root``."""
    return Path(root) / f"v2_OpenEnded_mscoco_{split}_questions.json"


def annotations_file(root: str | Path, split: str) -> Path:
    """Where the annotations of ``split`` live under ``root`` (absent for test splits)."""
    return Path(root) / f"v2_mscoco_{split}_annotations.json"


def image_file(image_root: str | Path, split: str, image_id: int) -> Path:
    """COCO image path of ``image_id`` as the VQA layout names it."""
    isplit = IMAGE_SPLIT.get(split, split)
    return Path(image_root) / isplit / f"COCO_{isplit}_{image_id:012d}.jpg"


class Vqa2Dataset:
    """Questions (and annotations, when present) of one VQA v2 split.

    Both JSON files are parsed and their top level checked on construction (ValueError naming the
    file); each record is checked when read (BadRecord naming the question).
    """

    task = "vqa"

    def __init__(
        self, root: str | Path, split: str, image_root: str = "", max_chars: int = MAX_CHARS, max_pixels: int = MAX_PIXELS
    ) -> None:
        self.root, self.split = Path(root), split
        self.image_root = Path(image_root) if image_root else self.root
        self.max_chars, self.max_pixels = max_chars, max_pixels
        path = questions_file(root, split)
        if not path.is_file():
            raise FileNotFoundError(f"VQA v2 questions {path} not found (spec vqa2:ROOT:SPLIT, e.g. vqa2:/data/vqa:val2014)")
        self.questions: list[Any] = top_level(read_json(path), "questions", list, path)
        ann_path = annotations_file(root, split)
        self.annotations: dict[int, Any] | None = None
        if ann_path.is_file():
            annotations = top_level(read_json(ann_path), "annotations", list, ann_path)
            # Index what can be indexed; a question whose annotation is unusable is a BadRecord later.
            self.annotations = {a["question_id"]: a for a in annotations if isinstance(a, dict) and isinstance(a.get("question_id"), int)}

    @property
    def annotated(self) -> bool:
        """Whether the split has answers (train/val) or not (test)."""
        return self.annotations is not None

    def __len__(self) -> int:
        return len(self.questions)

    def record(self, index: int) -> Sample:
        """Question ``index`` as a checked ``Sample`` without pixels (``image`` is None)."""
        q = self.questions[index]
        qid = q.get("question_id") if isinstance(q, dict) else None
        source = str(qid) if isinstance(qid, int) else f"questions[{index}]"
        qid = get_field(q, "question_id", int, source)
        image_id = get_field(q, "image_id", int, source)
        question = get_text(q, "question", source, self.max_chars)
        target, answers, answer_type, question_type = "", [], "", ""
        if self.annotations is not None:
            ann = self.annotations.get(qid)
            if ann is None:
                raise BadRecord("bad_record", source, "no usable annotation")
            raw = get_field(ann, "answers", list, source)
            if not raw:
                raise BadRecord("bad_record", source, "empty 'answers'")
            answers = [get_text(a, "answer", source, self.max_chars, allow_empty=True) for a in raw]
            target = get_text(ann, "multiple_choice_answer", source, self.max_chars)
            answer_type = get_field(ann, "answer_type", str, source)
            question_type = get_field(ann, "question_type", str, source)
        return Sample(
            prompt=question,
            target=target,
            task=self.task,
            image_path=str(image_file(self.image_root, self.split, image_id)),
            family=answer_type,
            id=str(qid),
            answers=answers,
            meta={"question_type": question_type, "question_id": qid, "image_id": image_id},
        )

    def __getitem__(self, index: int) -> Sample:
        return with_image(self.record(index), self.max_pixels)


@register_reader("vqa2")
def open_vqa2(path: str, split: str | None, options: dict[str, Any]) -> Vqa2Dataset:
    """``vqa2:ROOT:SPLIT[?image_root=DIR&max_chars=N&max_pixels=N]``."""
    if not split:
        raise ValueError(f"vqa2 needs a split: vqa2:{path}:SPLIT (e.g. train2014, val2014, test-dev2015)")
    return Vqa2Dataset(path, split, **reader_options(options, OPTIONS, "vqa2"))
