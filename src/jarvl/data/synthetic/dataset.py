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
from jarvl.data.synthetic.oracle import (
    comparative_asks,
    phrase_spans,
    question_referents,
    relation_directions,
    same_asks,
    statement_phrase_spans,
    statement_referents,
)
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
    ground truth: ``objects`` (shape, color, size, x, y each), ``condition``, ``split``, ``index``,
    and for VQA and entailment ``referents``: the indices in ``objects`` the question or statement
    refers to (``oracle.question_referents``, ``oracle.statement_referents``), ``phrases``: [start,
    end, indices] per noun phrase of the text (``oracle.question_phrases``, ``statement_phrase_spans``),
    ``directions``: [start, end, [dx, dy]] per directional relation word (``oracle.relation_directions``),
    ``comparatives``: [start, end, [a, b, c]] for a count comparison's comparative (``oracle.comparative_asks``),
    ``same``: [start, end, attribute] for a sameness question's attribute word (``oracle.same_asks``).
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
        self._groups: dict[int, list] = {}  # group -> [its first Item, its rendered image or None] (K > 1)
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
        if self.group_size == 1:
            return self._draw(group)
        first = self._group(group)[0]
        if question == 0:
            return first
        rng = random.Random(f"{self._stream(group)}/q{question}")
        return followup_question(rng, self.config, self.condition, first.scene, first)

    def _stream(self, group: int) -> str:
        return f"jarvl-synth/{self.seed}/{self.split}/{self.task}/{group}"

    def _draw(self, group: int) -> Item:
        """The generator's item ``group`` (the first of its group), from its own seeded RNG."""
        return MAKERS[self.task](random.Random(self._stream(group)), self.config, self.condition)

    def _group(self, group: int) -> list:
        """[first Item, rendered image or None] of ``group``, kept for its other questions (the last 8 groups)."""
        if group not in self._groups:
            if len(self._groups) >= 8:
                self._groups.pop(next(iter(self._groups)))
            self._groups[group] = [self._draw(group), None]
        return self._groups[group]

    def _image(self, index: int) -> np.ndarray:
        """The rendered scene of ``index``'s group, drawn once for all its questions."""
        entry = self._group(index // self.group_size)
        if entry[1] is None:
            entry[1] = render_scene(entry[0].scene)
        return entry[1]

    def __getitem__(self, index: int) -> Sample:
        index = self._index(index)
        it = self.item(index)
        shared = self.group_size > 1
        meta = {
            "objects": [{"shape": o.shape, "color": o.color, "size": o.size, "x": o.x, "y": o.y} for o in it.scene.objects],
            "condition": self.condition,
            "split": self.split,
            "index": index,
        }
        if self.task in ("vqa", "entailment"):
            vqa = self.task == "vqa"
            meta["referents"] = (question_referents if vqa else statement_referents)(it.scene, it.prompt)
            # the phrases of a well-posed question or statement (the referents' match already said so)
            spans = None if meta["referents"] is None else (phrase_spans if vqa else statement_phrase_spans)(it.scene, it.prompt)
            meta["phrases"] = None if spans is None else [[start, end, found] for start, end, found in spans]
            meta["directions"] = [[start, end, list(d)] for start, end, d in relation_directions(it.prompt)]
            meta["comparatives"] = [[start, end, list(a)] for start, end, a in comparative_asks(it.prompt)]
            meta["same"] = [[start, end, attribute] for start, end, attribute in same_asks(it.prompt)]
        return Sample(
            prompt=it.prompt,
            target=it.target,
            task=self.task,
            image=self._image(index) if shared else render_scene(it.scene),
            image_id=f"synth-{self.task}-{self.split}-{self.seed}-scene{index // self.group_size}" if shared else "",
            family=it.family,
            id=f"synth-{self.task}-{self.split}-{self.seed}-{index}",
            answers=[it.target],
            meta=meta,
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
