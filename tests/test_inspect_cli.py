"""`jarvl inspect`: a trained run's attention maps drawn on its own test scenes (CLI layer)."""

from __future__ import annotations

import json

import pytest

from jarvl.cli.main import main

TRAIN = ["--train", "synthetic:vqa:train?n=200&max_objects=3", "--val", "synthetic:vqa:val?n=8&max_objects=3", "--max-steps", "3",
         "--batch-size", "8", "--quiet", "--set", "data.tokenizer_samples=200", "--set", "run.eval_samples=8",
         "--set", "data.num_workers=0"]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 3-step JAR run with the paper's resamplers, and one that iterates on the text tokens over the image tokens."""
    root = tmp_path_factory.mktemp("inspect")
    assert main(["train", "--out", str(root / "paper"), *TRAIN, "--recipe", "paper"]) == 0
    assert main(["train", "--out", str(root / "tokens"), *TRAIN]) == 0  # the recipe: image and text tokens
    return root


def test_resampler_maps_on_the_runs_own_scenes(runs, tmp_path, capsys):
    """By default JAR's image resampler: N = 16 maps per image, each map's entropy in (0, 1], the run's scene options."""
    assert main(["inspect", str(runs / "paper"), "--images", "2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "attention_maps.json").read_text())
    assert (tmp_path / "attention_maps.png").stat().st_size > 0 and (tmp_path / "attention_maps.md").is_file()
    assert data["layer"] == "attn/image_resampler" and len(data["records"]) == 2
    assert data["spec"].startswith("synthetic:vqa:test?") and "max_objects=3" in data["spec"]
    for r in data["records"]:
        assert len(r["entropy"]) == 16 and all(0 < h <= 1.0001 for h in r["entropy"]) and 0 <= r["similarity"] <= 1.0001
    assert "attn/image_resampler" in capsys.readouterr().out


def test_maps_per_question_word_without_a_resampler(runs, tmp_path):
    """image_context/text_context tokens: the last iteration's maps, one per word of the question, labelled by it."""
    assert main(["inspect", str(runs / "tokens"), "--images", "1", "--layer", "attn/fuse0", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "attention_maps.json").read_text())
    (record,) = data["records"]
    assert data["layer"] == "attn/fuse0" and any("no image resampler" in n for n in data["notes"])
    assert len(record["labels"]) == len(record["entropy"]) and record["labels"][-1] == "?"
    assert " ".join(record["labels"]).replace(" ?", "?") == record["prompt"]


def test_bad_layer_and_missing_run_are_one_line_errors(runs, tmp_path, capsys):
    assert main(["inspect", str(runs / "paper"), "--layer", "attn/nope", "--out", str(tmp_path)]) != 0
    assert "--layer attn/nope: this model gives attn/image_resampler" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "absent"), "--out", str(tmp_path)]) != 0
    assert "checkpoint not found" in capsys.readouterr().err
    assert not (tmp_path / "attention_maps.png").exists()
