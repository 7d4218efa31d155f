"""Load a trained checkpoint and answer: batches for evaluation, one image + question for ``predict``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from jarvl.data.collate import Batch
from jarvl.data.schema import Sample
from jarvl.data.tokenizer import Tokenizer
from jarvl.models.weights import load_model
from jarvl.train.checkpoint import checkpoint_path
from jarvl.train.setup import make_collator


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
        self.tokenizer = Tokenizer.load(self.path / "tokenizer.json")
        self.collate = make_collator(self.model.cfg, self.tokenizer)
        self.num_beams = num_beams

    @torch.no_grad()
    def predict_batch(self, batch: Batch) -> list[str]:
        """Generated text for every sample kept in ``batch``."""
        b = batch.to(self.device)
        ids = self.model.generate(b.images, b.text_ids, b.text_mask, num_beams=self.num_beams)
        return self.tokenizer.decode_batch(ids.tolist())

    def answer(self, image: np.ndarray, prompt: str) -> str:
        """Answer one ``prompt`` about one uint8[H, W, 3] image."""
        batch = self.collate([Sample(prompt=prompt, target="", task="vqa", image=image)])
        return self.predict_batch(batch)[0]
