"""The tokenizer: specials, normalisation, round trips, truncation, padding, save/load."""

from __future__ import annotations

import pytest

from jarvl.data.synthetic import synthetic_texts
from jarvl.data.tokenizer import Tokenizer, train_tokenizer


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return train_tokenizer(synthetic_texts(300, seed=0))


def test_specials_have_fixed_ids(tok):
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3)
    assert [tok.hf.id_to_token(i) for i in range(4)] == ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]
    assert 50 < tok.vocab_size < 200  # a closed vocabulary of words


def test_round_trip_normalises_and_keeps_single_word_answers(tok):
    ids = tok.encode("What color is the red Circle?", add_bos=True, add_eos=True)
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
    assert tok.decode(ids) == "what color is the red circle ?"
    for answer in ("yes", "no", "red", "3", "0", "circle", "large", "entailment", "neutral"):
        assert tok.decode(tok.encode(answer)) == answer


def test_synthetic_vocabulary_is_covered(tok):
    for text in synthetic_texts(100, seed=7):
        assert tok.unk_id not in tok.encode(text), text
    assert tok.encode("zebra") == [tok.unk_id]


def test_truncation_keeps_bos_and_eos(tok):
    text = "how many red objects are there?"
    assert len(tok.encode(text)) == 7
    assert tok.encode(text, max_len=4) == tok.encode(text)[:4]
    ids = tok.encode(text, max_len=4, add_bos=True, add_eos=True)
    assert ids == [tok.bos_id, *tok.encode(text)[:2], tok.eos_id]
    with pytest.raises(ValueError, match="max_len"):
        tok.encode(text, max_len=1, add_bos=True, add_eos=True)


def test_batch_padding_and_decode_stops_at_eos(tok):
    rows = tok.encode_batch(["yes", "is there a red circle?"], add_eos=True, pad=True)
    assert len(rows[0]) == len(rows[1]) == 7
    assert rows[0][2:] == [tok.pad_id] * 5
    assert rows[1] == tok.encode("is there a red circle?", add_eos=True)
    assert tok.decode_batch(rows) == ["yes", "is there a red circle ?"]
    assert tok.decode([tok.bos_id, *tok.encode("red"), tok.eos_id, *tok.encode("blue")]) == "red"


def test_save_and_load(tok, tmp_path):
    path = tok.save(tmp_path)  # a folder: writes tokenizer.json inside
    assert path.name == "tokenizer.json"
    loaded = Tokenizer.load(tmp_path)
    text = "is the red circle left of the blue square?"
    assert loaded.encode(text) == tok.encode(text) and loaded.vocab_size == tok.vocab_size
    assert Tokenizer.load(tok.save(tmp_path / "sub" / "t.json")).encode(text) == tok.encode(text)
    with pytest.raises(FileNotFoundError):
        Tokenizer.load(tmp_path / "missing.json")


def test_bpe_for_open_text():
    texts = ["A dog runs on the beach.", "Two dogs run in the park!", "the park is green"] * 20
    bpe = train_tokenizer(texts, vocab_size=80, kind="bpe")
    assert bpe.pad_id == 0 and bpe.vocab_size <= 80
    assert bpe.decode(bpe.encode("Dogs run on the green beach.")) == "dogs run on the green beach ."
    with pytest.raises(ValueError, match="kind"):
        train_tokenizer(texts, kind="sentencepiece")
