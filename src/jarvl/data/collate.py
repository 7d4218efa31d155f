"""Turn lists of ``Sample``s into model-ready tensors; unusable records are dropped and tallied."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from jarvl.data.bad_records import BadRecord
from jarvl.data.schema import Sample
from jarvl.data.tokenizer import Tokenizer
from jarvl.imagenet import IMAGENET_MEAN, IMAGENET_STD


@dataclass
class Batch:
    """A collated batch.

    images float[Bi, 3, S, S] (normalised); text_ids long[B, L]; text_mask bool[B, L];
    targets long[B, T] (answer tokens, EOS, padding); ``samples`` the kept samples without pixels
    (for metrics); ``seen`` how many records were asked for; ``skipped`` (reason, source) pairs.
    ``image_index`` long[B]: the image row of each text when a ``share_images`` collator found
    samples sharing an image (then Bi < B); None means one image per text (Bi == B).
    ``len(batch)`` is B, the number of texts.
    """

    images: torch.Tensor
    text_ids: torch.Tensor
    text_mask: torch.Tensor
    targets: torch.Tensor
    samples: list[Sample]
    seen: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""  # the mixture dataset this batch came from ("" outside mixtures)
    grid_targets: torch.Tensor | None = None  # long[Bi, A, G*G]: grounding targets per image-token cell (GridTargets)
    image_index: torch.Tensor | None = None
    referents: torch.Tensor | None = None  # float[B, G*G]: referring targets per text and cell (ReferentTargets)
    phrases: torch.Tensor | None = None  # float[B, L, G*G]: phrase targets per prompt token and cell (PhraseTargets)
    directions: torch.Tensor | None = None  # float[B, L, K]: direction targets per prompt token (direction_targets)

    def __len__(self) -> int:
        return self.text_ids.shape[0]

    def part(self, rows: slice) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """The texts ``rows`` (a slice of B) as model inputs: (images, text_ids, text_mask, targets,
        image_index, grid_targets), keeping only the images those texts use (gradient accumulation).
        The referring targets of those rows are ``referents[rows]``, ``phrases[rows]`` and ``directions[rows]``."""
        texts = (self.text_ids[rows], self.text_mask[rows], self.targets[rows])
        if self.image_index is None:
            grid = None if self.grid_targets is None else self.grid_targets[rows]
            return self.images[rows], *texts, None, grid
        used, index = torch.unique(self.image_index[rows], return_inverse=True)
        grid = None if self.grid_targets is None else self.grid_targets[used]
        return self.images[used], *texts, index, grid

    def to(self, device: torch.device) -> Batch:
        """The tensors moved to ``device`` (samples and tallies unchanged)."""
        move = lambda t: t.to(device, non_blocking=True)  # noqa: E731
        return Batch(
            move(self.images),
            move(self.text_ids),
            move(self.text_mask),
            move(self.targets),
            self.samples,
            self.seen,
            self.skipped,
            self.source,
            None if self.grid_targets is None else move(self.grid_targets),
            None if self.image_index is None else move(self.image_index),
            None if self.referents is None else move(self.referents),
            None if self.phrases is None else move(self.phrases),
            None if self.directions is None else move(self.directions),
        )


def image_tensor(
    image: np.ndarray, size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD, crop: bool = False
) -> torch.Tensor:
    """uint8[H, W, 3] -> normalised float[3, size, size]; ``mean``/``std`` per channel, 0-255 scale.

    Resized with Pillow (bilinear) when needed: squashed to a square, or with ``crop`` the short
    side resized to ``size`` and the centre cut out (CLIP's preprocessing).
    """
    if image.shape[0] != size or image.shape[1] != size:
        from PIL import Image

        img = Image.fromarray(image)
        if crop:
            h, w = image.shape[:2]
            scale = size / min(h, w)
            rw, rh = max(size, round(w * scale)), max(size, round(h * scale))
            left, top = (rw - size) // 2, (rh - size) // 2
            img = img.resize((rw, rh), Image.BILINEAR).crop((left, top, left + size, top + size))
        else:
            img = img.resize((size, size), Image.BILINEAR)
        image = np.asarray(img)
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    return torch.from_numpy(((image.astype(np.float32) - mean) / std).transpose(2, 0, 1).copy())


class GridTargets:
    """Grounding targets for a ``grid`` x ``grid`` token grid: ``labels`` attribute -> classes.

    ``__call__(sample, height, width)`` -> long[A, grid*grid]: in the cell holding an object's centre
    (``meta["objects"]``: dicts with pixel ``x``, ``y`` and attribute values) the index of its value,
    elsewhere ``len(classes)`` ("no object"); -100 (no target) for a sample without objects or a value
    outside ``classes``.
    """

    def __init__(self, labels: dict[str, Sequence[str]], grid: int) -> None:
        self.labels = {name: {v: i for i, v in enumerate(values)} for name, values in labels.items()}
        self.grid = grid

    def __call__(self, sample: Sample, height: int, width: int) -> torch.Tensor:
        g = self.grid
        objects = (sample.meta or {}).get("objects")
        if not objects:
            return torch.full((len(self.labels), g * g), -100, dtype=torch.long)
        out = torch.stack([torch.full((g * g,), len(index), dtype=torch.long) for index in self.labels.values()])
        for obj in objects:
            cell = _cell(obj, g, height, width)
            for a, (name, index) in enumerate(self.labels.items()):
                out[a, cell] = index.get(obj.get(name), -100)
        return out


def _cell(obj: dict, grid: int, height: int, width: int) -> int:
    """The grid cell holding the pixel centre of ``obj`` (row-major)."""
    return min(grid - 1, int(obj["y"]) * grid // height) * grid + min(grid - 1, int(obj["x"]) * grid // width)


class ReferentTargets:
    """Referring targets for a ``grid`` x ``grid`` token grid (``ReferringConfig``).

    ``__call__(sample, height, width)`` -> float[grid*grid]: 1 in the cells holding the centre of an
    object the text refers to (``meta["referents"]``: indices into ``meta["objects"]``), 0 in every
    other cell; all -1 (no target) when the sample has no ``referents`` (or no ``objects``).
    """

    def __init__(self, grid: int) -> None:
        self.grid = grid

    def __call__(self, sample: Sample, height: int, width: int) -> torch.Tensor:
        g, meta = self.grid, sample.meta or {}
        objects, referents = meta.get("objects"), meta.get("referents")
        if not objects or referents is None:
            return torch.full((g * g,), -1.0)
        out = torch.zeros(g * g)
        for i in referents:
            out[_cell(objects[i], g, height, width)] = 1.0
        return out


class PhraseTargets:
    """Phrase targets for a ``grid`` x ``grid`` token grid (``ReferringConfig.phrases``): which
    cells each word of the prompt refers to, as MDETR aligns a phrase's tokens with its boxes.

    ``__call__(sample, offsets, length, height, width)`` -> float[length, grid*grid]. ``offsets``:
    the character span of each prompt token (``Tokenizer.prompt_offsets``). A token inside a phrase
    of ``meta["phrases"]`` ((start, end, object indices): character spans of the prompt and the
    objects in ``meta["objects"]`` they pick out) gets 1 in the cells holding the centre of those
    objects and 0 in every other cell (all 0: the phrase names nothing there); every other token,
    the padding, and every token of a sample without phrases get -1 (no target).
    """

    def __init__(self, grid: int) -> None:
        self.grid = grid

    def __call__(self, sample: Sample, offsets: Sequence[tuple[int, int]], length: int, height: int, width: int) -> torch.Tensor:
        g, meta = self.grid, sample.meta or {}
        out = torch.full((length, g * g), -1.0)
        objects, phrases = meta.get("objects"), meta.get("phrases")
        if not objects or phrases is None:
            return out
        for start, end, indices in phrases:
            row = torch.zeros(g * g)
            for i in indices:
                row[_cell(objects[i], g, height, width)] = 1.0
            for t, (a, b) in enumerate(offsets[:length]):
                if a < b and start <= a and b <= end:
                    out[t] = row
        return out


def direction_targets(
    sample: Sample, offsets: Sequence[tuple[int, int]], length: int, *, comparatives: bool = False, attributes: Sequence[str] = ()
) -> torch.Tensor:
    """Direction targets (``ReferringConfig.directions``): float[length, 2]. A prompt with relation
    words in ``meta["directions"]`` ((start, end, (dx, dy)): a character span and the direction from
    the relation's subject to its object in image coordinates, x right, y down) gives their tokens
    (dx, dy) and its other tokens (0, 0): only the relation word asks a direction. NaN on the padding
    and on every token of a prompt without them (no target). With ``comparatives`` (``fusion.match_tally``)
    three more components, a comparative's (a, b, c) from ``meta["comparatives"]`` (``oracle.comparative_asks``)
    on its tokens and 0 elsewhere; with ``attributes`` (``fusion.match_same``: the grounding attributes
    in order) one more per attribute, 1 on the tokens of a sameness question's attribute word
    (``meta["same"]``, ``oracle.same_asks``) at its attribute and 0 elsewhere. A prompt with any of
    these kinds has targets: float[length, 2 + 3 x comparatives + len(attributes)]."""
    meta, pad, width = sample.meta or {}, 3 * comparatives + len(attributes), 2 + 3 * comparatives + len(attributes)
    spans = [(a, b, (*d, *(0.0,) * pad)) for a, b, d in meta.get("directions") or ()]
    if comparatives:
        spans += [(a, b, (0.0, 0.0, *asks, *(0.0,) * len(attributes))) for a, b, asks in meta.get("comparatives") or ()]
    for a, b, name in (meta.get("same") or ()) if attributes else ():
        target = [0.0] * width
        if name in attributes:
            target[width - len(attributes) + list(attributes).index(name)] = 1.0
        spans.append((a, b, tuple(target)))
    out = torch.full((length, width), float("nan"))
    if not spans:
        return out
    for t, (a, b) in enumerate(offsets[:length]):
        if a < b:
            out[t] = 0.0
            for start, end, target in spans:
                if start <= a and b <= end:
                    out[t] = torch.tensor([float(v) for v in target])
    return out


class Collator:
    """Callable collate function: ``list[Sample | BadRecord]`` -> :class:`Batch`.

    Prompts are cut to ``max_text_len`` tokens and targets to ``max_target_len`` (EOS included);
    readers signal bad records by returning/raising ``BadRecord``, which are counted, not fatal.
    ``mean``, ``std`` and ``crop`` are the image preprocessing (see ``image_tensor``).
    With ``share_images``, samples of a batch naming the same image (``Sample.image_id``, else a
    non-empty ``image_path``) get one image row and ``Batch.image_index`` (see ``Batch``). With
    ``directions``, ``Batch.directions`` holds each prompt token's ``direction_targets`` (with
    ``comparatives`` and ``attributes``, theirs wider).
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        image_size: int,
        max_text_len: int,
        max_target_len: int,
        *,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        crop: bool = False,
        grid_targets: GridTargets | None = None,
        referent_targets: ReferentTargets | None = None,
        phrase_targets: PhraseTargets | None = None,
        directions: bool = False,
        comparatives: bool = False,
        attributes: Sequence[str] = (),
        share_images: bool = False,
    ) -> None:
        self.tokenizer = tokenizer
        self.image_size = image_size
        self.max_text_len = max_text_len
        self.max_target_len = max_target_len
        self.mean, self.std, self.crop = tuple(mean), tuple(std), crop
        self.grid_targets = grid_targets
        self.referent_targets = referent_targets
        self.phrase_targets = phrase_targets
        self.directions, self.comparatives, self.attributes = directions, comparatives, tuple(attributes)
        self.share_images = share_images

    def __call__(self, items: list[Sample | BadRecord]) -> Batch:
        """Collate; an all-bad batch gives a batch of size 0 (the trainer skips it)."""
        skipped = [(it.reason, it.source) for it in items if isinstance(it, BadRecord)]
        kept: list[Sample] = []
        images: list[torch.Tensor] = []
        grids: list[torch.Tensor] = []
        rows: dict[str, int] = {}  # image key -> its row (share_images)
        index: list[int] = []
        for sample in items:
            if isinstance(sample, BadRecord):
                continue
            if sample.image is None:
                skipped.append(("missing_image", sample.image_path or sample.id))
                continue
            key = (sample.image_id or sample.image_path) if self.share_images else ""
            if key and key in rows:
                index.append(rows[key])
                kept.append(sample)
                continue
            try:
                images.append(image_tensor(sample.image, self.image_size, self.mean, self.std, self.crop))
            except (ValueError, OSError) as err:
                skipped.append(("corrupt_image", f"{sample.image_path or sample.id} ({err})"))
                continue
            if key:
                rows[key] = len(images) - 1
            index.append(len(images) - 1)
            if self.grid_targets is not None:
                grids.append(self.grid_targets(sample, sample.image.shape[0], sample.image.shape[1]))
            kept.append(sample)
        ids, mask = self.prompts([s.prompt for s in kept])
        # each prompt token's character span, once for both per-token targets
        per_token = kept and (self.phrase_targets is not None or self.directions)
        offsets = self.tokenizer.prompt_offsets([s.prompt for s in kept], self.max_text_len) if per_token else []
        targets = self.tokenizer.encode_batch([s.target for s in kept], max_len=self.max_target_len, add_eos=True, pad=True)
        size = self.image_size
        return Batch(
            images=torch.stack(images) if images else torch.zeros(0, 3, size, size),
            text_ids=ids,
            text_mask=mask,
            targets=torch.tensor(targets, dtype=torch.long).reshape(len(kept), -1),
            samples=[_without_pixels(s) for s in kept],
            seen=len(items),
            skipped=skipped,
            grid_targets=(torch.stack(grids) if grids else None) if self.grid_targets is not None else None,
            image_index=torch.tensor(index, dtype=torch.long) if len(images) < len(kept) else None,
            referents=self._referents(kept),
            phrases=self._phrases(kept, ids.shape[1], offsets),
            directions=self._directions(kept, ids.shape[1], offsets),
        )

    def _referents(self, kept: list[Sample]) -> torch.Tensor | None:
        """float[B, G*G]: each kept text's referring targets (None when off or the batch is empty)."""
        if self.referent_targets is None or not kept:
            return None
        return torch.stack([self.referent_targets(s, s.image.shape[0], s.image.shape[1]) for s in kept])

    def _phrases(self, kept: list[Sample], length: int, offsets: list) -> torch.Tensor | None:
        """float[B, L, G*G]: each kept prompt's phrase targets per token (None when off or empty);
        ``offsets``: the prompts' ``Tokenizer.prompt_offsets``."""
        if self.phrase_targets is None or not kept:
            return None
        return torch.stack([self.phrase_targets(s, o, length, s.image.shape[0], s.image.shape[1]) for s, o in zip(kept, offsets)])

    def _directions(self, kept: list[Sample], length: int, offsets: list) -> torch.Tensor | None:
        """float[B, L, K]: each kept prompt's direction targets per token (None when off or empty)."""
        if not self.directions or not kept:
            return None
        return torch.stack(
            [direction_targets(s, o, length, comparatives=self.comparatives, attributes=self.attributes) for s, o in zip(kept, offsets)]
        )

    def prompts(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt ids long[B, L] (cut to ``max_text_len``, right-padded) and their mask bool[B, L]."""
        tok = self.tokenizer
        ids = torch.tensor(tok.encode_prompts(texts, max_len=self.max_text_len), dtype=torch.long).reshape(len(texts), -1)
        if ids.shape[1] == 0:
            ids = torch.full((len(texts), 1), tok.pad_id, dtype=torch.long)
        mask = ids != tok.pad_id
        mask[:, 0] |= ~mask.any(dim=1)  # an empty prompt still needs one key to attend to
        return ids, mask

    def images(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """uint8[H, W, 3] images -> normalised float[B, 3, S, S] (see ``image_tensor``)."""
        size = self.image_size
        if not images:
            return torch.zeros(0, 3, size, size)
        return torch.stack([image_tensor(im, size, self.mean, self.std, self.crop) for im in images])


def _without_pixels(sample: Sample) -> Sample:
    return Sample(
        prompt=sample.prompt,
        target=sample.target,
        task=sample.task,
        image_path=sample.image_path,
        image_id=sample.image_id,
        family=sample.family,
        id=sample.id,
        answers=sample.answers,
        meta={},
    )
