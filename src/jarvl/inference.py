"""Load a trained checkpoint and answer: batches for evaluation, one image + question for ``predict``,
several questions about one image (encoded once) for ``ask`` and the server.

Also the two pieces a trainer shares with it: the collate function a model config implies, and
the predict function (batch -> generated strings) evaluators are handed instead of a model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from jarvl.blocks.config import ModelConfig
from jarvl.checkpoint_layout import checkpoint_path, load_tokenizer
from jarvl.data.collate import Batch, Collator, GridTargets, PhraseTargets, ReferentTargets
from jarvl.data.schema import Sample
from jarvl.data.tokenizer import Tokenizer
from jarvl.models.weights import load_model


def make_collator(cfg: ModelConfig, tokenizer: Tokenizer, *, share_images: bool = False) -> Collator:
    """The collate function for ``cfg``: its image size and preprocessing, its text lengths, and the
    grounding and referring targets when ``cfg.grounding`` / ``cfg.referring`` is on; ``share_images``:
    see ``Collator``."""
    v, g = cfg.vision, cfg.grounding
    cells = v.image_size // v.patch_size
    grid = GridTargets(g.labels, cells) if g.weight > 0 else None
    refs = ReferentTargets(cells) if cfg.referring.weight > 0 else None
    phrases = PhraseTargets(cells) if cfg.referring.phrases > 0 else None
    return Collator(
        tokenizer,
        v.image_size,
        cfg.text.max_len,
        cfg.decoder.max_len,
        mean=v.mean,
        std=v.std,
        crop=v.crop,
        grid_targets=grid,
        referent_targets=refs,
        phrase_targets=phrases,
        directions=cfg.referring.directions > 0,
        comparatives=cfg.referring.directions > 0 and cfg.fusion.match_tally,
        attributes=tuple(cfg.grounding.labels) if cfg.referring.directions > 0 and cfg.fusion.match_same else (),
        share_images=share_images,
    )


def predict_fn(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    device: torch.device | str,
    num_beams: int = 1,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Callable[[Batch], list[str]]:
    """Batch -> generated text for every kept sample (``num_beams`` 1 = greedy), under ``autocast()``;
    a batch with ``image_index`` encodes each of its images once."""

    @torch.no_grad()
    def predict(batch: Batch) -> list[str]:
        b = batch.to(device)
        with autocast():
            ids = model.generate(b.images, b.text_ids, b.text_mask, image_index=b.image_index, num_beams=num_beams)
        return tokenizer.decode_batch(ids.tolist())

    return predict


@dataclass
class Answers:
    """Answers to B questions: ``texts``; ``scores`` the model's probability of each whole answer
    (the product of its token probabilities, EOS included); ``attention`` the fusion's attention
    maps per question (``attn/...`` float[B, N, S] on the CPU) and ``mask`` bool[B, K] of the fused
    tokens (which rows of a map are real tokens), when asked for."""

    texts: list[str]
    scores: list[float]
    attention: dict[str, torch.Tensor] = field(default_factory=dict)
    mask: torch.Tensor | None = None


class Predictor:
    """A checkpoint's model and tokenizer, ready to generate.

    Args:
        checkpoint: a run directory (its best checkpoint, else its last) or a checkpoint folder.
        device: "cpu", "cuda", ... num_beams: 1 = greedy search.
    """

    def __init__(self, checkpoint: str | Path, device: str = "cpu", num_beams: int = 1) -> None:
        from jarvl.devices import resolve_device

        self.device = resolve_device(device)
        self.path = checkpoint_path(checkpoint)
        self.model = load_model(self.path).to(self.device).eval()
        self.tokenizer = load_tokenizer(self.path)
        self.collate = make_collator(self.model.cfg, self.tokenizer)
        self.num_beams = num_beams

    def predict_batch(self, batch: Batch) -> list[str]:
        """Generated text for every sample kept in ``batch``."""
        return predict_fn(self.model, self.tokenizer, self.device, self.num_beams)(batch)

    def answer(self, image: np.ndarray, prompt: str) -> str:
        """Answer one ``prompt`` about one uint8[H, W, 3] image."""
        batch = self.collate([Sample(prompt=prompt, target="", task="vqa", image=image)])
        return self.predict_batch(batch)[0]

    def ask(self, image: np.ndarray, questions: Sequence[str], *, attention: bool = False) -> Answers:
        """Answer several ``questions`` about one uint8[H, W, 3] image, encoding the image once."""
        return self.answer_questions([image], questions, [0] * len(questions), attention=attention)

    @torch.no_grad()
    def answer_questions(
        self,
        images: Sequence[np.ndarray] | torch.Tensor,
        questions: Sequence[str],
        image_index: Sequence[int],
        *,
        attention: bool = False,
    ) -> Answers:
        """Answer ``questions[b]`` about ``images[image_index[b]]``; each image is encoded once.

        ``images``: uint8[H, W, 3] arrays, or float[Bi, 3, S, S] already made by ``self.collate.images``.
        ``attention`` also returns the fusion's attention maps (its ``return_attn`` diagnostics).
        """
        if len(image_index) != len(questions):
            raise ValueError(f"{len(questions)} questions but {len(image_index)} image indices")
        model = self.model
        pixels = (images if torch.is_tensor(images) else self.collate.images(images)).to(self.device)
        ids, mask = self.collate.prompts(list(questions))
        ids, mask = ids.to(self.device), mask.to(self.device)
        index = torch.as_tensor(list(image_index), dtype=torch.long, device=self.device)
        model.fusion.return_attn = attention
        try:
            fused = model.encode(pixels, ids, mask, image_index=index)
        finally:
            model.fusion.return_attn = False
        out = model.generate_from(fused, num_beams=self.num_beams)
        scores = self._answer_probability(fused, out)
        if not attention:
            return Answers(self.tokenizer.decode_batch(out.tolist()), scores.tolist())
        maps = {k: v.float().cpu() for k, v in fused.diagnostics.items() if k.startswith("attn/")}
        return Answers(self.tokenizer.decode_batch(out.tolist()), scores.tolist(), maps, fused.mask.cpu())

    def _answer_probability(self, fused, ids: torch.Tensor) -> torch.Tensor:
        """P(answer) float[B] of generated ``ids`` long[B, T]: tokens up to and including the first EOS."""
        if ids.shape[1] == 0:
            return torch.ones(ids.shape[0])
        text = self.model.cfg.text
        logits = self.model.decoder(self.model.decoder_inputs(ids), fused.tokens, fused.mask)  # (B, T, V)
        logp = logits.float().log_softmax(-1).gather(-1, ids[..., None])[..., 0]  # (B, T)
        after_eos = (ids == text.eos_id).long().cumsum(1) - (ids == text.eos_id).long()  # EOS seen before t
        return (logp * (after_eos == 0)).sum(1).exp().cpu()
