"""Text tokenizer: a thin wrapper over a Hugging Face ``tokenizers`` model.

Two kinds. **Trained here** (``train_tokenizer``): normalisation lowercases (after NFKC) and splits
on whitespace and around every punctuation mark, so "What color is the red circle?" becomes
``what color is the red circle ?``; ``wordlevel`` (the default) suits small closed vocabularies like
the synthetic data, ``bpe`` open text; ids 0..3 are ``[PAD]``, ``[BOS]``, ``[EOS]``, ``[UNK]``.
**A pretrained tower's** (``Tokenizer.from_pretrained``): the ``tokenizer.json`` of a local Hugging
Face directory, with its own special tokens named in ``Specials`` (BERT: ``[PAD]``, ``[CLS]`` as
BOS, ``[SEP]`` as EOS; T5: ``<pad>`` also as BOS, T5's decoder start, ``</s>``), and prompts framed
the way the tower was trained (``[CLS] .. [SEP]``, ``.. </s>``). ``save`` writes the
``tokenizers`` JSON and, for such a tokenizer, ``tokenizer_specials.json`` beside it, so a run's
copy is all ``eval``/``predict``/resume need. Nothing is ever downloaded.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

SPECIALS = ("[PAD]", "[BOS]", "[EOS]", "[UNK]")
KINDS = ("wordlevel", "bpe")
FILENAME = "tokenizer.json"
SPECIALS_FILENAME = "tokenizer_specials.json"
_SUFFIX = "</w>"  # BPE end-of-word marker, so decoding can put the spaces back


@dataclass(frozen=True)
class Specials:
    """The special tokens, by their strings; ``frame_prompts``: prompts get the tokenizer's own
    special tokens (its post-processor's template, e.g. ``[CLS] .. [SEP]``)."""

    pad: str = SPECIALS[0]
    bos: str = SPECIALS[1]
    eos: str = SPECIALS[2]
    unk: str = SPECIALS[3]
    frame_prompts: bool = False


LOCAL = Specials()


class Tokenizer:
    """Encode text to ids and back; wraps a ``tokenizers.Tokenizer`` and names its special tokens.

    With the default ``specials`` (a tokenizer trained here) ids 0..3 must be PAD, BOS, EOS, UNK.
    """

    def __init__(self, hf: HFTokenizer, specials: Specials = LOCAL) -> None:
        if specials == LOCAL:
            for want, token in enumerate(SPECIALS):
                if hf.token_to_id(token) != want:
                    got = hf.token_to_id(token)
                    raise ValueError(f"tokenizer must map {token} to id {want}, got {got}")
        ids = {}
        for role in ("pad", "bos", "eos", "unk"):
            token = getattr(specials, role)
            ids[role] = hf.token_to_id(token) if token else None
            if token and ids[role] is None:
                raise ValueError(f"tokenizer has no {role} token {token!r} in its vocabulary")
        self.hf, self.specials, self._ids = hf, specials, ids

    pad_id = property(lambda self: self._ids["pad"], doc="Id of the padding token (0 for tokenizers trained here).")
    bos_id = property(lambda self: self._ids["bos"], doc="Id the decoder starts from ([BOS]; BERT [CLS]; T5 <pad>).")
    eos_id = property(lambda self: self._ids["eos"], doc="Id that ends a target ([EOS]; BERT [SEP]; T5 </s>).")
    unk_id = property(lambda self: self._ids["unk"], doc="Id of the unknown token (None when there is none).")

    @property
    def vocab_size(self) -> int:
        """Number of ids, specials included (the embedding table size)."""
        return self.hf.get_vocab_size()

    def encode(self, text: str, max_len: int | None = None, add_bos: bool = False, add_eos: bool = False) -> list[int]:
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
        rows = [self._frame(e.ids, max_len, add_bos, add_eos) for e in self.hf.encode_batch(list(texts), add_special_tokens=False)]
        if pad and rows:
            width = max(map(len, rows))
            rows = [row + [self.pad_id] * (width - len(row)) for row in rows]
        return rows

    def encode_prompts(self, texts: Sequence[str], max_len: int | None = None) -> list[list[int]]:
        """Rows of prompt ids, right-padded with ``pad_id`` to the longest.

        A pretrained tower's tokenizer frames each prompt as the tower was trained (its
        post-processor: ``[CLS] text [SEP]``), the text cut so the special tokens still fit.
        """
        rows = [ids for ids, _ in self._prompts(texts, max_len)]
        width = max(map(len, rows), default=0)
        return [row + [self.pad_id] * (width - len(row)) for row in rows]

    def prompt_offsets(self, texts: Sequence[str], max_len: int | None = None) -> list[list[tuple[int, int]]]:
        """Per prompt, the character span (start, end) in its text of each id ``encode_prompts``
        gives it, padding left out; (0, 0) for a special token. Maps phrase spans to tokens."""
        return [offsets for _, offsets in self._prompts(texts, max_len)]

    def _prompts(self, texts: Sequence[str], max_len: int | None) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """(ids, character offsets) of each prompt, cut and framed as ``encode_prompts`` says."""
        processor = self.hf.post_processor if self.specials.frame_prompts else None
        encodings = self.hf.encode_batch(list(texts), add_special_tokens=False)
        if processor is None:
            return [(e.ids[:max_len], e.offsets[:max_len]) for e in encodings]
        room = None if max_len is None else max_len - self.hf.num_special_tokens_to_add(False)
        if room is not None and room < 0:
            raise ValueError(f"max_len={max_len} leaves no room for the tokenizer's special tokens")
        rows = []
        for encoding in encodings:
            if room is not None:
                encoding.truncate(room)
            framed = self.hf.post_process(encoding)
            rows.append((framed.ids, [o if s == 0 else (0, 0) for o, s in zip(framed.offsets, framed.special_tokens_mask)]))
        return rows

    def _frame(self, ids: list[int], max_len: int | None, add_bos: bool, add_eos: bool) -> list[int]:
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
        """Write the ``tokenizers`` JSON file to ``path`` (``path/tokenizer.json`` for a folder), and
        the special tokens to ``tokenizer_specials.json`` beside it unless they are the default ones."""
        path = Path(path)
        path = path / FILENAME if path.is_dir() else path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.hf.save(str(path))
        sidecar = path.with_name(SPECIALS_FILENAME)
        if self.specials == LOCAL:
            sidecar.unlink(missing_ok=True)
        else:
            sidecar.write_text(json.dumps(dataclasses.asdict(self.specials), indent=1), encoding="utf-8")
        return path

    def to_json(self) -> str:
        """The ``tokenizers`` JSON text that ``save`` writes."""
        return self.hf.to_str()

    @classmethod
    def from_json(cls, text: str) -> Tokenizer:
        """Inverse of :meth:`to_json` (with the local special tokens)."""
        return cls(HFTokenizer.from_str(text))

    def to_state(self) -> dict:
        """The tokenizer and its special tokens as plain types (to send between processes)."""
        return {"json": self.to_json(), "specials": dataclasses.asdict(self.specials)}

    @classmethod
    def from_state(cls, state: dict) -> Tokenizer:
        """Inverse of :meth:`to_state`."""
        return cls(HFTokenizer.from_str(state["json"]), Specials(**state["specials"]))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Tokenizer:
        """Read a file written by ``save`` (a file path or a folder holding ``tokenizer.json``)."""
        path = Path(path)
        path = path / FILENAME if path.is_dir() else path
        specials = LOCAL
        sidecar = path.with_name(SPECIALS_FILENAME)
        if sidecar.is_file():
            try:
                specials = Specials(**json.loads(sidecar.read_text(encoding="utf-8")))
            except (json.JSONDecodeError, TypeError) as err:
                raise ValueError(f"{sidecar}: damaged special-tokens file: {err}") from None
        return cls(_read_hf(path), specials)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> Tokenizer:
        """The tokenizer of a local Hugging Face directory: its ``tokenizer.json``, special tokens
        from ``tokenizer_config.json`` / ``special_tokens_map.json`` (BOS: ``bos_token``, else
        ``cls_token``, else ``pad_token``; EOS: ``eos_token``, else ``sep_token``). Its saved
        padding and truncation are switched off: jarvl pads and cuts itself."""
        root = Path(directory)
        hf = _read_hf(root / FILENAME)
        hf.no_padding()
        hf.no_truncation()
        named = _special_tokens(root)
        pad = named.get("pad_token")
        eos = named.get("eos_token") or named.get("sep_token")
        if not pad or not eos:
            raise ValueError(
                f"{root}: the tokenizer needs a pad token and an eos (or sep) token named in "
                f"tokenizer_config.json or special_tokens_map.json; found {sorted(named) or 'none'}"
            )
        bos = named.get("bos_token") or named.get("cls_token") or pad
        specials = Specials(pad=pad, bos=bos, eos=eos, unk=named.get("unk_token", ""), frame_prompts=True)
        return cls(hf, specials)


def _read_hf(path: Path) -> HFTokenizer:
    if not path.exists():
        raise FileNotFoundError(f"tokenizer file {path} not found")
    try:
        return HFTokenizer.from_file(str(path))
    except Exception as err:  # the Rust side raises a bare Exception on bad JSON
        raise ValueError(f"{path} is not a tokenizers JSON file: {err}") from None


def _special_tokens(root: Path) -> dict[str, str]:
    """``*_token`` entries of a Hugging Face directory's tokenizer configs (strings, or AddedToken dicts)."""
    named: dict[str, str] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):  # the later file wins
        path = root / name
        if not path.is_file():
            continue
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON: {err}") from None
        for key, value in data.items() if isinstance(data, dict) else []:
            if isinstance(value, dict):
                value = value.get("content")
            if key.endswith("_token") and isinstance(value, str) and value:
                named[key] = value
    return named


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8000, kind: str = "wordlevel") -> Tokenizer:
    """Train a tokenizer of at most ``vocab_size`` ids (specials included) on ``texts``.

    ``kind="wordlevel"``: one id per normalised word, unseen words map to [UNK].
    ``kind="bpe"``: byte-pair merges over characters, for open-vocabulary text.
    """
    if kind == "wordlevel":
        hf = HFTokenizer(models.WordLevel(unk_token="[UNK]"))
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False)
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
    hf.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("isolated")])
    hf.train_from_iterator(texts, trainer)
    return Tokenizer(hf)
