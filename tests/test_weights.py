"""Weights I/O: safetensors round trip; another preset/fusion or a damaged file is a clear error."""

from __future__ import annotations

import json

import pytest
import torch

from jarvl.models import WeightsError, build_model, get_preset, load_model, save_model
from jarvl.models.weights import load_weights_into


def test_other_fusion_names_what_differs(tmp_path):
    save_model(build_model("tiny", "jar"), tmp_path)
    with pytest.raises(WeightsError, match=r"fusion.name: 'jar' != 'concat'"):
        load_model(tmp_path, expect=get_preset("tiny", "concat"))
    with pytest.raises(WeightsError, match="fusion.name"):
        load_weights_into(build_model("tiny", "concat"), tmp_path)


def test_other_preset_names_what_differs(tmp_path):
    save_model(build_model("tiny", "jar"), tmp_path)
    with pytest.raises(WeightsError, match=r"width: 128 != 256"):
        load_model(tmp_path, expect=get_preset("small", "jar"))


def test_damaged_weights_file(tmp_path):
    save_model(build_model("tiny", "concat"), tmp_path)
    path = tmp_path / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="damaged weights file"):
        load_model(tmp_path)
    path.write_bytes(bytes(data[:100]))  # truncated
    with pytest.raises(WeightsError, match="model.safetensors"):
        load_model(tmp_path)


def test_damaged_or_foreign_config(tmp_path):
    save_model(build_model("tiny", "concat"), tmp_path)
    cfg = tmp_path / "config.json"
    cfg.write_text(cfg.read_text()[:50])
    with pytest.raises(WeightsError, match="damaged config"):
        load_model(tmp_path)
    cfg.write_text(json.dumps({"model": {"widht": 3}}))
    with pytest.raises(WeightsError, match="did you mean 'width'"):
        load_model(tmp_path)
    with pytest.raises(WeightsError, match="no model config"):
        load_model(tmp_path / "nowhere")


def test_no_pickle_in_weights_dir(tmp_path):
    save_model(build_model("tiny", "jar"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    assert (tmp_path / "model.safetensors").read_bytes()[:8] != b"\x80\x02\x8a\nl\xfc\x9cF"  # not a pickle
    assert torch.equal(
        load_model(tmp_path).state_dict()["fusion.norm.weight"], build_model("tiny", "jar").state_dict()["fusion.norm.weight"]
    )


def test_hand_edited_config_is_refused_naming_the_key(tmp_path):
    model = build_model("tiny", "jar")
    save_model(model, tmp_path)
    path = tmp_path / "config.json"
    meta = json.loads(path.read_text())
    saved_heads = meta["model"]["fusion"]["heads"]
    meta["model"]["fusion"]["heads"] = 8
    path.write_text(json.dumps(meta, indent=2))
    with pytest.raises(WeightsError, match=rf"model config was changed after saving \(fusion.heads: 8 \(saved {saved_heads}\)\)"):
        load_model(tmp_path)
    with pytest.raises(WeightsError, match="fusion.heads"):
        load_weights_into(build_model("tiny", "jar"), tmp_path)
    # A file from before the config hash (no config_sha256) loads as it always did.
    del meta["config_sha256"]
    meta["model"]["fusion"]["heads"] = saved_heads
    path.write_text(json.dumps(meta, indent=2))
    assert torch.equal(load_model(tmp_path).state_dict()["fusion.norm.weight"], model.state_dict()["fusion.norm.weight"])


def test_config_hash_ignores_formatting(tmp_path):
    save_model(build_model("tiny", "concat"), tmp_path)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text())))  # re-indented: same config, same hash
    load_model(tmp_path)
