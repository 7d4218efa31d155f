"""Pretrained towers from local Hugging Face directories: same outputs as transformers, resolution,
freezing, projection, and clear errors at the boundary (nothing downloaded, nothing unpickled)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

pytest.importorskip("transformers")

import hf_towers  # noqa: E402
from conftest import random_batch  # noqa: E402

from jarvl.config import apply_overrides  # noqa: E402
from jarvl.models import JARVLModel, build_model, get_preset  # noqa: E402
from jarvl.models.pretrained import BackboneError, resolve_backbones  # noqa: E402


@pytest.fixture(scope="module")
def towers(tmp_path_factory):
    """Every tiny tower, saved once: {name: directory}."""
    root = tmp_path_factory.mktemp("towers")
    return {name: save(root / name) for name, save in {**hf_towers.VISION_TOWERS, **hf_towers.TEXT_TOWERS}.items()}


def config(vision: str = "", text: str = "", fusion: str = "jar", *extra: str):
    overrides = ([f"vision.backbone={vision}"] if vision else []) + ([f"text.backbone={text}"] if text else [])
    return apply_overrides(get_preset("tiny", fusion), overrides + list(extra))


def reference_vision(name: str, path):
    """The tower as transformers loads it on its own: (module, tokens of last_hidden_state)."""
    import transformers as tf

    cls = {"vit": tf.ViTModel, "clip": tf.CLIPVisionModel, "siglip": tf.SiglipVisionModel}[name]
    model = cls.from_pretrained(path, local_files_only=True).eval()

    def run(images):
        out = model(pixel_values=images).last_hidden_state
        return model.post_layernorm(out) if name == "clip" else out  # jarvl norms every CLIP token (open_clip's ln_post)

    return run


@pytest.mark.parametrize("name, tokens, crop", [("vit", 17, False), ("clip", 17, True), ("siglip", 16, False)])
def test_vision_tower_equals_transformers(towers, name, tokens, crop):
    model = build_model(config(vision=towers[name])).eval()
    v = model.cfg.vision
    assert (v.image_size, v.patch_size, v.width, v.depth, v.heads, v.crop) == (32, 8, 32, 2, 4, crop)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ours = model.image_encoder(images)
        ref = reference_vision(name, towers[name])(images)
    assert ours.shape == (2, tokens, 32)
    torch.testing.assert_close(ours, ref)


def test_preprocessing_comes_from_the_checkpoint(towers):
    pre = json.loads((towers["clip"] / "preprocessor_config.json").read_text())
    v = resolve_backbones(config(vision=towers["clip"])).vision
    assert v.mean == pytest.approx([255 * m for m in pre["image_mean"]]) and v.std == pytest.approx([255 * s for s in pre["image_std"]])
    assert resolve_backbones(config(vision=towers["vit"])).vision.mean == pytest.approx([127.5] * 3)


@pytest.mark.parametrize("name", ["bert", "t5"])
def test_text_tower_equals_transformers_with_padding(towers, name):
    import transformers as tf

    model = build_model(config(text=towers[name])).eval()
    cls = tf.BertModel if name == "bert" else tf.T5EncoderModel
    ref = cls.from_pretrained(towers[name], local_files_only=True).eval()
    ids = torch.randint(3, 40, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 4:] = False
    with torch.no_grad():
        ours = model.text_encoder(ids, mask)
        theirs = ref(input_ids=ids, attention_mask=mask.long()).last_hidden_state
    torch.testing.assert_close(ours[mask], theirs[mask])


def test_backbone_layers_runs_the_first_blocks(towers):
    """backbone_layers=-1 (the penultimate layer, as LLaVA and BLIP-2 take): one block, then the final norm."""
    import transformers as tf

    model = build_model(config(towers["vit"], "", "jar", "vision.backbone_layers=-1")).eval()
    assert model.cfg.vision.depth == 1 and len(model.image_encoder.freeze_parts()[0]) == 1
    ref = tf.ViTModel.from_pretrained(towers["vit"], local_files_only=True).eval()
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        hidden = ref(pixel_values=images, output_hidden_states=True).hidden_states[1]
        torch.testing.assert_close(model.image_encoder(images), ref.layernorm(hidden))
    with pytest.raises(BackboneError, match="backbone_layers=3 leaves 3 of the tower's 2"):
        resolve_backbones(config(towers["vit"], "", "jar", "vision.backbone_layers=3"))


@pytest.mark.parametrize("vision, text", [("vit", "bert"), ("clip", "t5"), ("siglip", "bert")])
def test_every_parameter_learns(towers, vision, text):
    """No parameter without a gradient (DDP would fail on one): CLIP's post-norm, poolers and heads are handled."""
    model = JARVLModel(config(towers[vision], towers[text]))
    images, ids, mask, targets = random_batch(model.cfg, text_len=6)
    model(torch.randn(2, 3, 32, 32), ids.clamp(max=40), mask, targets.clamp(max=40)).loss.backward()
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []


def test_freeze_true_freezes_the_tower_and_keeps_dropout_off(towers):
    model = JARVLModel(config(towers["vit"], towers["bert"], "jar", "text.freeze=true")).train()
    assert not any(p.requires_grad for p in model.text_encoder.parameters())
    assert all(p.requires_grad for p in model.image_encoder.parameters())
    assert not model.text_encoder.training and model.image_encoder.training and model.fusion.training


def test_freeze_last_n_trains_the_last_blocks_and_final_norm(towers):
    model = JARVLModel(config(towers["vit"], "", "jar", "vision.freeze=last_1", "text.freeze=last_1"))
    trainable = {n for n, p in model.image_encoder.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("model.layers.1.", "model.encoder.layer.1.", "model.layernorm.")) for n in trainable)
    assert any(n.startswith("model.layernorm.") for n in trainable)
    # the built-in text encoder freezes the same way
    trainable = {n for n, p in model.text_encoder.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("encoder.layers.1.", "encoder.norm.")) for n in trainable)
    with pytest.raises(ValueError, match="vision.freeze must be true, false or last_N"):
        config(towers["vit"], "", "jar", "vision.freeze=some").validate()
    with pytest.raises(ValueError, match="more layers trainable than the tower's 2"):
        resolve_backbones(config(towers["vit"], "", "jar", "vision.freeze=last_3"))


def test_mlp_projection(towers):
    model = JARVLModel(config(towers["vit"], "", "jar", "vision.projection=mlp"))
    assert isinstance(model.image_proj, torch.nn.Sequential) and model.image_proj[0].in_features == 32
    assert isinstance(model.text_proj, torch.nn.Linear)


def test_a_saved_model_reloads_without_the_backbone_directory(towers, tmp_path):
    from jarvl.models import load_model, save_model

    copies = {k: shutil.copytree(towers[k], tmp_path / k) for k in ("siglip", "t5")}
    model = build_model(config(copies["siglip"], copies["t5"])).eval()
    save_model(model, tmp_path / "w")
    for path in copies.values():
        shutil.rmtree(path)
    again = load_model(tmp_path / "w").eval()
    images, ids, mask, targets = random_batch(model.cfg, text_len=6)
    ids, targets, images = ids.clamp(max=40), targets.clamp(max=40), torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(again(images, ids, mask, targets).logits, model(images, ids, mask, targets).logits)


# ----------------------------------------------------------------- errors at the boundary
def test_missing_path_is_one_clear_error(tmp_path):
    with pytest.raises(BackboneError, match=f"model.vision.backbone={tmp_path / 'nowhere'}: no such directory.*nothing is downloaded"):
        resolve_backbones(config(vision=str(tmp_path / "nowhere")))
    with pytest.raises(BackboneError, match="model.text.backbone=bert-base-uncased: no such directory"):
        resolve_backbones(config(text="bert-base-uncased"))  # a hub name is never fetched


def test_not_a_checkpoint_directory(tmp_path, towers):
    (tmp_path / "file").write_text("x")
    with pytest.raises(BackboneError, match="not a directory"):
        resolve_backbones(config(vision=str(tmp_path / "file")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackboneError, match="no config.json"):
        resolve_backbones(config(vision=str(tmp_path / "empty")))
    with pytest.raises(BackboneError, match="model_type 'bert' is not a vision tower"):
        resolve_backbones(config(vision=towers["bert"]))
    with pytest.raises(BackboneError, match="model_type 'vit' is not a text tower"):
        resolve_backbones(config(text=towers["vit"]))


def test_pickle_only_checkpoint_is_refused_with_how_to_convert(tmp_path, towers):
    shutil.copy(towers["vit"] / "config.json", tmp_path / "config.json")
    (tmp_path / "pytorch_model.bin").write_bytes(b"never unpickled")
    with pytest.raises(BackboneError) as err:
        resolve_backbones(config(vision=str(tmp_path)))
    message = str(err.value)
    assert "only pytorch_model.bin" in message and "safetensors only" in message and "save_pretrained" in message


def test_missing_preprocessor_or_tokenizer(tmp_path, towers):
    vit = shutil.copytree(towers["vit"], tmp_path / "vit")
    (vit / "preprocessor_config.json").unlink()
    with pytest.raises(BackboneError, match="no preprocessor_config.json"):
        resolve_backbones(config(vision=vit))
    bert = shutil.copytree(towers["bert"], tmp_path / "bert")
    (bert / "tokenizer.json").unlink()
    with pytest.raises(BackboneError, match="no tokenizer.json"):
        resolve_backbones(config(text=bert))


def test_checkpoint_lacking_the_towers_weights(tmp_path, towers):
    """A config.json that promises a tower the weights file does not hold: an error, not random weights."""
    from safetensors.torch import save_file

    vit = shutil.copytree(towers["vit"], tmp_path / "vit")
    save_file({"unrelated": torch.zeros(1)}, str(vit / "model.safetensors"))
    with pytest.raises(BackboneError, match="lacks .* weights"):
        build_model(config(vision=vit))


# ----------------------------------------------------------------- every fusion on top
@pytest.mark.parametrize("fusion", __import__("jarvl.models", fromlist=["list_fusions"]).list_fusions())
def test_every_fusion_on_pretrained_towers(towers, fusion):
    """Registry-wide: each fusion trains (finite loss, gradients) and generates on pretrained towers."""
    model = JARVLModel(config(towers["clip"], towers["bert"], fusion))
    images, ids, mask, targets = random_batch(model.cfg, text_len=6)
    images, ids, targets = torch.randn(2, 3, 32, 32), ids.clamp(max=40), targets.clamp(max=40)
    out = model(images, ids, mask, targets)
    assert out.logits.shape == (2, targets.shape[1], model.cfg.text.vocab_size) and torch.isfinite(out.loss)
    out.loss.backward()
    assert model.image_encoder.model.embeddings.patch_embedding.weight.grad is not None
    model.eval()
    assert model.generate(images, ids, mask, max_new_tokens=3).shape[0] == 2


# ----------------------------------------------------------------- the tower's own tokenizer
def test_bert_tokenizer_frames_prompts_and_names_its_specials(towers, tmp_path):
    from jarvl.data.tokenizer import Tokenizer

    tok = Tokenizer.from_pretrained(towers["bert"])
    cls, sep = tok.hf.token_to_id("[CLS]"), tok.hf.token_to_id("[SEP]")
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, cls, sep, 1)
    rows = tok.encode_prompts(["What is it?", "ab"], max_len=6)
    assert rows[0][0] == cls and rows[0][-1] == sep and len(rows[0]) == 6  # cut so [SEP] still fits
    assert rows[1][:4] == [cls, *tok.encode("ab"), sep] and rows[1][4:] == [0, 0]
    target = tok.encode_batch(["red cube"], add_eos=True)[0]
    assert target[-1] == sep and tok.decode(target) == "red cube"
    saved = tok.save(tmp_path / "run")  # a folder that does not exist yet: a file path
    again = Tokenizer.load(saved)
    assert again.specials == tok.specials and again.encode_prompts(["what is it?"]) == tok.encode_prompts(["what is it?"])
    from jarvl.data.tokenizer import train_tokenizer

    train_tokenizer(["a b c"], vocab_size=16).save(saved)  # a local tokenizer in the same place: no stale specials
    assert Tokenizer.load(saved).specials.bos == "[BOS]"


def test_t5_tokenizer_starts_the_decoder_from_pad(towers):
    from jarvl.data.tokenizer import Tokenizer

    tok = Tokenizer.from_pretrained(towers["t5"])
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, 0, 1, 2)  # T5's decoder start is <pad>
    assert tok.encode_prompts(["ab"])[0] == [*tok.encode("ab"), 1]
