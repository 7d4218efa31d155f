"""The profiler counts pretrained towers like the built-in ones: FLOPs by hand count, attention included."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

pytest.importorskip("transformers")

import hf_towers  # noqa: E402

from jarvl.config import apply_overrides  # noqa: E402
from jarvl.models import JARVLModel, get_preset  # noqa: E402
from jarvl.profiling import count_flops  # noqa: E402
from jarvl.profiling.flops import flop_counter  # noqa: E402

D, FF, DEPTH = 32, 64, 2  # hf_towers.TOWER


def tower_flops(b: int, t: int) -> tuple[int, int]:
    """(linear, attention) forward FLOPs (2 x MACs) of the tiny towers' DEPTH layers on b x t tokens."""
    linear = 2 * b * t * (4 * D * D + 2 * D * FF) * DEPTH  # q, k, v, out + the two MLP matrices
    attention = 2 * 2 * b * t * t * D * DEPTH  # QK^T and AV over all heads
    return linear, attention


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("towers")
    cfg = apply_overrides(
        get_preset("tiny", "jar"),
        [f"vision.backbone={hf_towers.save_vit(root / 'vit')}", f"text.backbone={hf_towers.save_bert(root / 'bert')}"],
    )
    return JARVLModel(cfg)


def test_vision_tower_flops_match_the_hand_count(model):
    """No mask: the CPU flash-attention op, which torch's counter misses without our formula."""
    counter = flop_counter()
    with counter:
        model.image_encoder(torch.randn(2, 3, 32, 32))
    linear, attention = tower_flops(2, 17)  # 16 patches + CLS
    patches = 2 * 2 * 16 * (3 * 8 * 8) * D
    assert counter.get_total_flops() == linear + attention + patches
    ops = {str(k) for k in counter.get_flop_counts()["Global"]}
    assert "aten._scaled_dot_product_flash_attention_for_cpu" in ops  # the path our formula covers


def test_text_tower_flops_match_the_hand_count_with_padding(model):
    """A padding mask sends BERT's attention down another path (batched matmuls): counted all the same."""
    ids = torch.randint(4, 40, (2, 10))
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 6:] = False
    counter = flop_counter()
    with counter:
        model.text_encoder(ids, mask)
    linear, attention = tower_flops(2, 10)
    assert counter.get_total_flops() == linear + attention and attention / (linear + attention) > 0.05


def test_profile_parts_include_the_towers(model):
    images, ids = torch.randn(2, 3, 32, 32), torch.randint(4, 40, (2, 10))
    mask, targets = torch.ones(2, 10, dtype=torch.bool), torch.randint(4, 40, (2, 5))
    flops = count_flops(model, lambda: model(images, ids, mask, targets))
    assert flops["image"] == sum(tower_flops(2, 17)) + 2 * 2 * 16 * 3 * 64 * D
    assert flops["text"] == sum(tower_flops(2, 10))
    parts = sum(flops[p] for p in ("image", "text", "fusion", "decoder"))
    assert abs(parts - flops["total"]) / flops["total"] < 0.01


def test_profile_cli_on_a_training_config(tmp_path):
    """`jarvl profile --config` on the YAML a run trains from, with the same model.* overrides."""
    vit, bert = hf_towers.save_vit(tmp_path / "vit"), hf_towers.save_bert(tmp_path / "bert")
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"model:\n  preset: tiny\n  fusion: {{name: perceiver}}\n  vision: {{backbone: {vit}, freeze: true}}\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "jarvl.cli.main",
            "profile",
            "--config",
            str(exp),
            "--set",
            f"model.text.backbone={bert}",
            "--json",
            "--no-timing",
            "--no-isolate",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (record,) = json.loads(out.stdout)
    assert record["fusion"] == "perceiver" and record["image_size"] == 32 and record["image_tokens"] == 17
    assert record["gflops_image"] * 1e9 == pytest.approx(sum(tower_flops(1, 17)) + 2 * 16 * 3 * 64 * D)
    assert record["gflops_text"] > 0 and record["activation_mb"] > 0


def test_profile_cli_bad_backbone_is_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "jarvl.cli.main", "profile", "--model", "tiny", "--set", f"vision.backbone={tmp_path}/none"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2 and f"{tmp_path}/none: no such directory" in out.stderr and "Traceback" not in out.stderr
