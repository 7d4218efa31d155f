"""``SyntheticDataset``: random access, deterministic synthetic samples for any task and split.

Sample ``i`` is generated from its own RNG seeded by (seed, split, task, i), so it is the same in
every DataLoader worker, on resume and across machines, and each split draws from its own stream.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator

import numpy as np

from jarvl.data.schema import TASKS, Sample
from jarvl.data.synthetic.caption import make_caption
from jarvl.data.synthetic.claims import Item
from jarvl.data.synthetic.config import SPLIT_CONDITION, SPLITS, SynthConfig, unknown_choice
from jarvl.data.synthetic.entailment import make_entailment
from jarvl.data.synthetic.followup import followup_question
from jarvl.data.synthetic.render import render_scene
from jarvl.data.synthetic.scene import Obj, place
from jarvl.data.synthetic.vqa import make_vqa

MAKERS = {"vqa": make_vqa, "caption": make_caption, "entailment": make_entailment}


class SyntheticDataset:
    """``size`` procedurally drawn samples of one task and split; ``ds[i]`` is a ``Sample``.

    Args:
        task: "vqa", "caption" or "entailment".
        split: "train", "val" or "test" (condition A) or "comp" (condition B: unseen
            shape-colour combinations, as CLEVR-CoGenT).
        size: number of samples (``len(ds)``).
        seed: selects a whole different dataset.
        config: scene difficulty and VQA families (default ``SynthConfig()``).
        questions_per_image: K > 1 (VQA only) groups samples ``K g .. K g + K - 1`` on one scene:
            the first is VQA item ``g`` as drawn with K = 1, the others follow-up questions about its
            scene (``followup.py``); they share ``image_id`` so a batch can encode the image once,
            and ``group_size`` tells the batch sampler to keep a group together.

    Each sample has ``image`` uint8[S, S, 3], ``answers == [target]`` and ``meta`` with the exact
    ground truth: ``objects`` (shape, color, size, x, y each), ``condition``, ``split``, ``index``.
    """

    def __init__(
        self,
        task: str = "vqa",
        split: str = "train",
        size: int = 10_000,
        seed: int = 0,
        config: SynthConfig | None = None,
        questions_per_image: int = 1,
    ) -> None:
        if task not in TASKS:
            raise unknown_choice("task", task, TASKS)
        if split not in SPLITS:
            raise unknown_choice("split", split, SPLITS)
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        if not isinstance(questions_per_image, int) or questions_per_image < 1:
            raise ValueError(f"questions_per_image must be an int >= 1, got {questions_per_image!r}")
        if questions_per_image > 1 and task != "vqa":
            raise ValueError(f"questions_per_image > 1 needs task 'vqa', got {task!r}")
        self.task, self.split, self.size, self.seed = task, split, size, seed
        self.group_size = questions_per_image
        self._rendered: dict[int, np.ndarray] = {}
        self.config = config or SynthConfig()
        self.condition = SPLIT_CONDITION[split]
        # Fail now, not mid-training, when the densest scene cannot be laid out.
        crowd = [Obj("circle", "red", "large")] * self.config.max_objects
        place(random.Random(0), crowd, self.config.image_size)

    def __len__(self) -> int:
        return self.size

    def _index(self, index: int) -> int:
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} samples")
        return index % self.size

    def item(self, index: int) -> Item:
        """Scene and text of sample ``index`` without drawing pixels (fast; for text corpora)."""
        group, question = divmod(self._index(index), self.group_size)
        stream = f"jarvl-synth/{self.seed}/{self.split}/{self.task}/{group}"
        first = MAKERS[self.task](random.Random(stream), self.config, self.condition)
        if question == 0:
            return first
        return followup_question(random.Random(f"{stream}/q{question}"), self.config, self.condition, first.scene, first)

    def _image(self, index: int, scene) -> np.ndarray:
        """The rendered scene of ``index``'s group, kept for the group's other questions."""
        group = index // self.group_size
        if group not in self._rendered:
            if len(self._rendered) >= 8:
                self._rendered.pop(next(iter(self._rendered)))
            self._rendered[group] = render_scene(scene)
        return self._rendered[group]

    def __getitem__(self, index: int) -> Sample:
        index = self._index(index)
        it = self.item(index)
        shared = self.group_size > 1
        return Sample(
            prompt=it.prompt,
            target=it.target,
            task=self.task,
            image=self._image(index, it.scene) if shared else render_scene(it.scene),
            image_id=f"synth-{self.task}-{self.split}-{self.seed}-scene{index // self.group_size}" if shared else "",
            family=it.family,
            id=f"synth-{self.task}-{self.split}-{self.seed}-{index}",
            answers=[it.target],
            meta={
                "objects": [{"shape": o.shape, "color": o.color, "size": o.size, "x": o.x, "y": o.y} for o in it.scene.objects],
                "condition": self.condition,
                "split": self.split,
                "index": index,
            },
        )

    def __iter__(self) -> Iterator[Sample]:
        return (self[i] for i in range(self.size))

    def texts(self) -> Iterator[str]:
        """Prompt then target of every sample, without rendering (for tokenizer training)."""
        for i in range(self.size):
            it = self.item(i)
            yield it.prompt
            yield it.target


def synthetic_texts(n: int = 2000, seed: int = 0, config: SynthConfig | None = None, tasks: Iterable[str] = TASKS) -> list[str]:
    """Prompts and targets of ``n`` train samples per task: a corpus with the whole vocabulary."""
    return [t for task in tasks for t in SyntheticDataset(task, "train", n, seed, config).texts()]
