"""The one sample schema that every dataset reader emits.

A sample is a text-to-text example grounded in one image: the model reads ``image`` and
``prompt`` and must generate ``target``. Every task (VQA, captioning, entailment) fits it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

TASKS = ("vqa", "caption", "entailment")


@dataclass
class Sample:
    """One image-text example.

    Attributes:
        image: uint8[H, W, 3] RGB pixels, or None when only ``image_path`` is known (lazy readers).
        image_path: where the image lives on disk ("" for in-memory synthetic images).
        prompt: the input text (question, caption prompt, or hypothesis statement).
        target: the text the model must generate (answer, caption or entailment label).
        task: one of ``TASKS``.
        family: a finer category for per-group metrics (question family, answer type, ...).
        id: a stable identifier of the record within its dataset.
        answers: all reference answers/captions when a dataset has several (VQA's ten, COCO's five).
        meta: anything else a reader wants to carry; the model never reads it, the grounding targets
            read ``meta["objects"]`` (see ``jarvl.data.collate.GridTargets``).
        image_id: names the image when several samples share it ("" = use ``image_path``); a
            collator with ``share_images`` puts each distinct image of a batch in it once.
    """

    prompt: str
    target: str
    task: str
    image: np.ndarray | None = None
    image_path: str = ""
    family: str = ""
    id: str = ""
    answers: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    image_id: str = ""
