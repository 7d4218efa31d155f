"""Shared test helpers: small model configs for every preset x fusion, and random inputs."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

from jarvl.config import apply_overrides  # noqa: E402
from jarvl.models import ModelConfig, get_preset, list_fusions, list_presets  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))

# Property tests judge correctness, not speed: on a loaded 2-core machine a model build can exceed
# hypothesis's default 200 ms per example (test_config.test_round_trip did), so no deadline.
from hypothesis import settings  # noqa: E402

settings.register_profile("jarvl", deadline=None)
settings.load_profile("jarvl")

# Large presets run at reduced depth (and paper-base at a smaller vocabulary) so every
# preset x fusion test stays quick on 2 CPU cores; widths, heads and token counts are kept.
REDUCED = {
    "small": ["vision.depth=1", "text.depth=1", "decoder.depth=1", "fusion.layers=4"],
    "paper-base": ["vision.depth=1", "text.depth=1", "decoder.depth=1", "fusion.layers=4", "text.vocab_size=1000"],
    "paper-base-shared": ["vision.depth=1", "text.depth=1", "decoder.depth=1", "fusion.layers=4", "text.vocab_size=1000"],
}


def small_config(preset: str, fusion: str, **overrides: str) -> ModelConfig:
    """``preset`` with ``fusion``, reduced in depth, with extra dotted overrides."""
    cfg = get_preset(preset, fusion)
    return apply_overrides(cfg, REDUCED.get(preset, []) + [f"{k}={v}" for k, v in overrides.items()])


def random_batch(cfg: ModelConfig, batch: int = 2, text_len: int = 7, target_len: int = 5, seed: int = 0):
    """images float[B,3,S,S], ids long[B,L], mask bool[B,L] (sample 1 padded), targets long[B,T]."""
    g = torch.Generator().manual_seed(seed)
    s = cfg.vision.image_size
    images = torch.randn(batch, 3, s, s, generator=g)
    ids = torch.randint(4, cfg.text.vocab_size, (batch, text_len), generator=g)
    mask = torch.ones(batch, text_len, dtype=torch.bool)
    mask[1:, text_len - 3 :] = False
    ids = ids.masked_fill(~mask, cfg.text.pad_id)
    targets = torch.randint(4, cfg.text.vocab_size, (batch, target_len), generator=g)
    targets[:, -1] = cfg.text.eos_id
    return images, ids, mask, targets


ALL = [(p, f) for p in list_presets() for f in list_fusions()]


@pytest.fixture(params=ALL, ids=[f"{p}-{f}" for p, f in ALL])
def preset_fusion(request) -> tuple[str, str]:
    """Every registered preset x fusion."""
    return request.param


def train_tiny_run(tmp_path, model: dict, train: str):
    """Two training steps of the tiny preset with ``model`` (model keys beside the preset) on the
    synthetic spec ``train``, then a ``Predictor`` of the run (a read-out's whole path: collate, loss,
    checkpoint, inference)."""
    from jarvl.inference import Predictor
    from jarvl.train.config import build_experiment
    from jarvl.train.trainer import Trainer

    data = {"train": [train], "val": ["synthetic:vqa:val?n=16"], "batch_size": 16, "num_workers": 0}
    cfg = build_experiment(
        {"model": {"preset": "tiny", **model}, "data": data},
        ["run.max_steps=2", "run.eval_every=2", "run.eval_samples=16", "run.progress=false"],
    )
    Trainer(cfg, tmp_path / "run").fit()
    return Predictor(tmp_path / "run")
