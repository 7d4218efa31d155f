"""A pretrained text tower (BERT-like or T5 encoder) with the built-in TextEncoder's contract."""

from __future__ import annotations

import torch

from jarvl.blocks.config import TextConfig
from jarvl.models.pretrained.tower import PretrainedTower


class PretrainedTextTower(PretrainedTower):
    """ids long[B, L] + mask bool[B, L] (True = real token) -> float[B, L, Dt].

    The ids are the checkpoint's own tokenizer's, prompts framed as it frames them
    (``[CLS] .. [SEP]``); the output is ``last_hidden_state`` of the first ``cfg.depth`` blocks.
    Padded positions are masked out of attention, so padding never changes the real tokens' outputs.
    """

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__(cfg.hf_config, cfg.backbone, "model.text.backbone")
        self.cfg = cfg

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """long[B, L], bool[B, L] -> float[B, L, Dt]."""
        if ids.shape[1] > self.cfg.max_len:
            raise ValueError(f"text of {ids.shape[1]} tokens exceeds text.max_len={self.cfg.max_len}")
        return self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
