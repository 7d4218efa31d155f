"""Text tokenizer: a thin wrapper over a Hugging Face ``tokenizers`` model trained on our own text.

Normalisation lowercases (after NFKC) and splits on whitespace and around every punctuation mark,
so "What color is the red circle?" becomes ``what color is the red circle ?``. ``wordlevel`` (the
default) suits small closed vocabularies like the synthetic data; ``bpe`` suits open text. Nothing
is ever downloaded. Ids 0..3 are ``[PAD]``, ``[BOS]``, ``[EOS]``, ``[UNK]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

SPECIALS = ("[PAD]", "[BOS]", "[EOS]", "[UNK]")
KINDS = ("wordlevel", "bpe")
FILENAME = "tokenizer.json"
_SUFFIX = "</w>"  # BPE end-of-word marker, so decoding can put the spaces back


class Tokenizer:
    """Encode text to ids and back; wraps a ``tokenizers.Tokenizer`` whose ids 0..3 are specials."""

    def __init__(self, hf: HFTokenizer) -> None:
        for want, token in enumerate(SPECIALS):
            if hf.token_to_id(token) != want:
                got = hf.token_to_id(token)
                raise ValueError(f"tokenizer must map {token} to id {want}, got {got}")
        self.hf = hf

    pad_id = property(lambda self: 0, doc="Id of [PAD] (always 0).")
    bos_id = property(lambda self: 1, doc="Id of [BOS].")
    eos_id = property(lambda self: 2, doc="Id of [EOS].")
    unk_id = property(lambda self: 3, doc="Id of [UNK].")

    @property
    def vocab_size(self) -> int:
        """Number of ids, specials included (the embedding table size)."""
        return self.hf.get_vocab_size()

    def encode(
        self, text: str, max_len: int | None = None, add_bos: bool = False, add_eos: bool = False
    ) -> list[int]:
        """int[L] ids of ``text``; with ``max_len`` the text is cut so BOS/EOS still fit."""
        ids = self.hf.encode(text, add_special_tokens=False).ids
        return self._frame(ids, max_len, add_bos, add_eos)

    def encode_batch(
        self,
        texts: Sequence[str],
        max_len: int | None = None,
        add_bos: bool = False,
        add_eos: bool = False,
        pad: bool = False,
    ) -> list[list[int]]:
        """``encode`` for many texts; ``pad`` right-pads rows with ``pad_id`` to the longest."""
        rows = [
            self._frame(e.ids, max_len, add_bos, add_eos)
            for e in self.hf.encode_batch(list(texts), add_special_tokens=False)
        ]
        if pad and rows:
            width = max(map(len, rows))
            rows = [row + [self.pad_id] * (width - len(row)) for row in rows]
        return rows

    def _frame(
        self, ids: list[int], max_len: int | None, add_bos: bool, add_eos: bool
    ) -> list[int]:
        if max_len is not None:
            room = max_len - add_bos - add_eos
            if room < 0:
                raise ValueError(f"max_len={max_len} leaves no room for BOS/EOS")
            ids = ids[:room]
        return [self.bos_id] * add_bos + ids + [self.eos_id] * add_eos

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``: stops at the first EOS, skips PAD and BOS, words joined by spaces."""
        kept = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                kept.append(i)
        return self.hf.decode(kept, skip_special_tokens=False)

    def decode_batch(self, rows: Iterable[Iterable[int]]) -> list[str]:
        """``decode`` for each row."""
        return [self.decode(row) for row in rows]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the ``tokenizers`` JSON file to ``path`` (``path/tokenizer.json`` for a folder)."""
        path = Path(path)
        path = path / FILENAME if path.is_dir() else path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.hf.save(str(path))
        return path

    def to_json(self) -> str:
        """The ``tokenizers`` JSON text that ``save`` writes."""
        return self.hf.to_str()

    @classmethod
    def from_json(cls, text: str) -> Tokenizer:
        """Inverse of :meth:`to_json`."""
        return cls(HFTokenizer.from_str(text))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Tokenizer:
        """Read a file written by ``save`` (a file path or a folder holding ``tokenizer.json``)."""
        path = Path(path)
        path = path / FILENAME if path.is_dir() else path
        if not path.exists():
            raise FileNotFoundError(f"tokenizer file {path} not found")
        try:
            hf = HFTokenizer.from_file(str(path))
        except Exception as err:  # the Rust side raises a bare Exception on bad JSON
            raise ValueError(f"{path} is not a tokenizers JSON file: {err}") from None
        return cls(hf)


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 8000, kind: str = "wordlevel"
) -> Tokenizer:
    """Train a tokenizer of at most ``vocab_size`` ids (specials included) on ``texts``.

    ``kind="wordlevel"``: one id per normalised word, unseen words map to [UNK].
    ``kind="bpe"``: byte-pair merges over characters, for open-vocabulary text.
    """
    if kind == "wordlevel":
        hf = HFTokenizer(models.WordLevel(unk_token="[UNK]"))
        trainer = trainers.WordLevelTrainer(
            vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False
        )
    elif kind == "bpe":
        hf = HFTokenizer(models.BPE(unk_token="[UNK]", end_of_word_suffix=_SUFFIX))
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIALS),
            end_of_word_suffix=_SUFFIX,
            show_progress=False,
        )
        hf.decoder = decoders.BPEDecoder(suffix=_SUFFIX)
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}; valid: {', '.join(KINDS)}")
    hf.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    hf.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("isolated")]
    )
    hf.train_from_iterator(texts, trainer)
    return Tokenizer(hf)
