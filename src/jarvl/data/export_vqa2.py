"""Write VQA samples in the exact VQA v2 layout, so ``vqa2:ROOT:SPLIT`` (and other VQA code) reads them.

``jarvl data synth --format vqa2 --split val --out DIR`` writes::

    DIR/v2_OpenEnded_mscoco_{VSPLIT}_questions.json
    DIR/v2_mscoco_{VSPLIT}_annotations.json
    DIR/{VSPLIT}/COCO_{VSPLIT}_{image_id:012d}.jpg     (JPEG, quality 95: pixels change slightly)

VSPLIT, the split name inside the file names, is ``--vqa-split`` when given, else derived from the
samples' own split (``meta["split"]``, as synthetic samples carry): ``train2014`` for train and
``val2014`` for anything else (val, test, comp: our test splits have answers, which VQA's
``test2015`` never has). Read it back with ``vqa2:DIR:VSPLIT``.

Sample n gets ``image_id = n + 1`` and ``question_id = 1000 * image_id`` (VQA numbers questions
``image_id * 1000 + k``). The ten answers are the target repeated (synthetic data has one true
answer, so VQA accuracy equals exact match); ``answer_type`` is "yes/no", "number" or "other" from
the answer, and ``question_type`` is the sample's ``family``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from jarvl.data.readers.vqa2 import annotations_file, image_file, questions_file
from jarvl.data.schema import Sample

DEFAULT_VQA_SPLIT = {"train": "train2014"}
FALLBACK_VQA_SPLIT = "val2014"


def answer_type(answer: str) -> str:
    """VQA's three answer types: "yes/no", "number" (all digits) or "other"."""
    a = answer.strip().lower()
    if a in ("yes", "no"):
        return "yes/no"
    return "number" if a.isdigit() else "other"


def vqa_split_name(split: str | None) -> str:
    """The VQA file-name split for one of our splits: train -> train2014, anything else -> val2014."""
    return DEFAULT_VQA_SPLIT.get(split or "", FALLBACK_VQA_SPLIT)


def write_vqa2(samples: Iterable[Sample], out_dir: str | os.PathLike, overwrite: bool = False, *, split: str | None = None) -> Path:
    """Write VQA ``samples`` under ``out_dir`` in the VQA v2 layout; returns the questions file.

    Args:
        samples: task "vqa" samples with pixels (``image`` uint8[H, W, 3]) or an ``image_path``.
        out_dir: the dataset root (created if missing).
        overwrite: replace an existing questions/annotations pair of the same split.
        split: VSPLIT (e.g. "train2014"); default: from the first sample's ``meta["split"]``.
    """
    out = Path(out_dir)
    questions, annotations, vsplit = [], [], None
    for n, s in enumerate(samples):
        if s.task != "vqa":
            raise ValueError(f"sample {s.id or n!r} has task {s.task!r}; the VQA v2 layout holds only 'vqa' samples")
        if n == 0:
            vsplit = split or vqa_split_name(s.meta.get("split"))
            _refuse_existing(out, vsplit, overwrite)
        image_id = n + 1
        question_id = 1000 * image_id
        _write_image(s, image_file(out, vsplit, image_id), n)
        questions.append({"image_id": image_id, "question": s.prompt, "question_id": question_id})
        annotations.append(
            {
                "question_id": question_id,
                "image_id": image_id,
                "answers": [{"answer": s.target, "answer_confidence": "yes", "answer_id": k} for k in range(1, 11)],
                "multiple_choice_answer": s.target,
                "answer_type": answer_type(s.target),
                "question_type": s.family,
            }
        )
    if vsplit is None:
        raise ValueError("no samples to write")
    header = {
        "info": {"description": "jarvl synthetic VQA in the VQA v2 layout"},
        "license": {},
        "data_subtype": vsplit,
        "data_type": "mscoco",
    }
    _write_json(questions_file(out, vsplit), {**header, "task_type": "Open-Ended", "questions": questions})
    _write_json(annotations_file(out, vsplit), {**header, "annotations": annotations})
    return questions_file(out, vsplit)


def _refuse_existing(out: Path, vsplit: str, overwrite: bool) -> None:
    path = questions_file(out, vsplit)
    if path.exists() and not overwrite:
        raise ValueError(f"{path} already exists; choose another folder or pass --overwrite")
    (out / vsplit).mkdir(parents=True, exist_ok=True)


def _write_image(sample: Sample, path: Path, n: int) -> None:
    if sample.image is not None:
        image = Image.fromarray(np.asarray(sample.image, dtype=np.uint8))
    elif sample.image_path:
        with Image.open(sample.image_path) as img:
            image = img.convert("RGB")
    else:
        raise ValueError(f"sample {sample.id or n!r} has neither image nor image_path")
    image.save(path, format="JPEG", quality=95)


def _write_json(path: Path, data: dict) -> None:
    # Written beside the target and renamed, so a crash never leaves a JSON file cut short.
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
