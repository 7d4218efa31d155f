"""Corpus BLEU as pycocoevalcap's ``bleu_scorer.py`` computes it, and COCO caption tokenisation.

Inputs are *tokenised* captions: strings whose tokens are separated by whitespace. The official
COCO pipeline tokenises with the Java Stanford ``PTBTokenizer`` (``-preserveLines -lowerCase``)
and then drops punctuation tokens; ``coco_tokenize`` reproduces that on plain captions without
Java. The n-gram helper here is shared with ``cider.py``.
"""

import math
import re
from collections import Counter
from collections.abc import Sequence

# pycocoevalcap's PUNCTUATIONS list. It is matched *after* lower-casing, so the upper-case
# bracket tokens never match and e.g. "(" survives as "-lrb-": a quirk kept on purpose.
PTB_PUNCTUATIONS = frozenset("'' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ;".split())
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "{": "-lcb-", "}": "-rcb-", "[": "-lsb-", "]": "-rsb-"}
_SPLIT_WORDS = {"cannot": "can not", "gonna": "gon na", "gotta": "got ta", "wanna": "wan na"}
_CLITIC = re.compile(r"^(.+?)(n't|'s|'re|'ve|'m|'ll|'d)$")
_LEADING = "\"'`$"
_TRAILING = ".,?!:;\"'`%"


def _ptb_chunk(chunk: str) -> list[str]:
    """PTB-split one whitespace-free, lower-cased chunk into tokens (punctuation still included)."""
    lead, trail = [], []
    while chunk and chunk[0] in _LEADING:
        lead.append("``" if chunk[0] == '"' else chunk[0])  # PTB writes opening quotes as ``
        chunk = chunk[1:]
    while chunk and chunk[-1] in _TRAILING:
        # PTB keeps "..." as one token and we split it into "." tokens: all are dropped anyway.
        trail.insert(0, "''" if chunk[-1] == '"' else chunk[-1])
        chunk = chunk[:-1]
    core = [chunk] if chunk else []
    if chunk in _SPLIT_WORDS:
        core = _SPLIT_WORDS[chunk].split()
    elif m := _CLITIC.match(chunk):
        # "isn't" -> "is n't", "can't" -> "ca n't", "dog's" -> "dog 's"
        core = [m.group(1), m.group(2)]
    return lead + core + trail


def coco_tokenize(caption: str) -> str:
    """Tokenise a plain caption like the COCO pipeline (Java PTBTokenizer, punctuation dropped).

    Lower-cases, splits off clitics ("isn't" -> "is n't"), a leading "$" and a trailing "%",
    drops the punctuation tokens of pycocoevalcap's list and turns brackets into "-lrb-" etc.
    Hyphenated words, "cat/dog", "3.5", "5:30" and "1,000" stay whole, as in PTB. Known
    differences from the Java tokenizer, outside plain captions: abbreviations ("u.s.") lose
    their final period, and "'n'" style quotes are split.

    Example: ``"A dog's toy, isn't it?"`` -> ``"a dog 's toy is n't it"``.
    """
    text = caption.replace("\n", " ").lower()
    for bracket, token in _BRACKETS.items():
        text = text.replace(bracket, f" {token} ")
    tokens = [t for chunk in text.split() for t in _ptb_chunk(chunk)]
    return " ".join(t for t in tokens if t not in PTB_PUNCTUATIONS)


def ngram_counts(tokens: str, n: int = 4) -> Counter:
    """Counts of every 1..n-gram (as word tuples) of a whitespace-tokenised string."""
    words = tokens.split()
    return Counter(tuple(words[i : i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1))


def check_corpus(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    """Fail loudly on inputs the caption scorers cannot score (pycocoevalcap's asserts)."""
    if isinstance(candidates, str) or len(candidates) != len(references):
        raise ValueError(f"need one candidate per image: {len(candidates)} candidates, {len(references)} reference sets")
    if not candidates:
        raise ValueError("empty corpus")
    for i, refs in enumerate(references):
        if isinstance(refs, str) or len(refs) == 0:
            raise ValueError(f"image {i}: references must be a non-empty list of strings, got {refs!r}")


def corpus_bleu(candidates: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> list[float]:
    """Corpus-level BLEU-1..max_n exactly as pycocoevalcap's ``Bleu(max_n).compute_score``.

    Clipped n-gram matches (clipped by the max count in any one reference) and candidate n-gram
    totals are summed over the corpus; the brevity penalty uses, per image, the reference length
    "closest" to the candidate (ties go to the shorter), summed over the corpus. The ``1e-15`` and
    ``1e-9`` smoothing constants of the original are kept, so a zero match count gives ~0, not 0.

    Args:
        candidates: one tokenised candidate caption per image.
        references: per image, a non-empty list of tokenised reference captions.

    Returns:
        ``[BLEU-1, ..., BLEU-max_n]``, each in [0, 1].
    """
    check_corpus(candidates, references)
    small, tiny = 1e-9, 1e-15
    guess, correct = [0] * max_n, [0] * max_n
    test_len_total, ref_len_total = 0, 0
    for cand, refs in zip(candidates, references, strict=True):
        test_len = len(cand.split())
        ref_lens, max_ref_counts = [], Counter()
        for ref in refs:
            ref_lens.append(len(ref.split()))
            max_ref_counts |= ngram_counts(ref, max_n)  # | keeps the max count per n-gram
        test_len_total += test_len
        ref_len_total += min((abs(length - test_len), length) for length in ref_lens)[1]
        for k in range(max_n):
            guess[k] += max(0, test_len - k)
        for gram, count in ngram_counts(cand, max_n).items():
            correct[len(gram) - 1] += min(max_ref_counts[gram], count)
    bleus, product = [], 1.0
    for k in range(max_n):
        product *= (correct[k] + tiny) / (guess[k] + small)
        bleus.append(product ** (1.0 / (k + 1)))
    ratio = (test_len_total + tiny) / (ref_len_total + small)
    if ratio < 1:
        bleus = [b * math.exp(1 - 1 / ratio) for b in bleus]
    return bleus


def bleu4(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU-4 as reported on COCO captions (pycocoevalcap ``Bleu(4)``, last entry)."""
    return corpus_bleu(candidates, references, max_n=4)[3]
