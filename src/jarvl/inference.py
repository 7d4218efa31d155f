"""Load a trained checkpoint and answer: batches for evaluation, one image + question for ``predict``.

Also the two pieces a trainer shares with it: the collate function a model config implies, and
the predict function (batch -> generated strings) evaluators are handed instead of a model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from jarvl.blocks.config import ModelConfig
from jarvl.checkpoint_layout import checkpoint_path, load_tokenizer
from jarvl.data.collate import Batch, Collator
from jarvl.data.schema import Sample
from jarvl.data.tokenizer import Tokenizer
from jarvl.models.weights import load_model


def make_collator(cfg: ModelConfig, tokenizer: Tokenizer) -> Collator:
    """The collate function for ``cfg``: its image size and preprocessing, its text lengths."""
    v = cfg.vision
    return Collator(tokenizer, v.image_size, cfg.text.max_len, cfg.decoder.max_len, mean=v.mean, std=v.std, crop=v.crop)


def predict_fn(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    device: torch.device | str,
    num_beams: int = 1,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Callable[[Batch], list[str]]:
    """Batch -> generated text for every kept sample (``num_beams`` 1 = greedy), under ``autocast()``."""

    @torch.no_grad()
    def predict(batch: Batch) -> list[str]:
        b = batch.to(device)
        with autocast():
            ids = model.generate(b.images, b.text_ids, b.text_mask, num_beams=num_beams)
        return tokenizer.decode_batch(ids.tolist())

    return predict


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
