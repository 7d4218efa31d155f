"""CIDEr-D (Vedantam et al., 2015) exactly as pycocoevalcap's ``cider_scorer.py`` computes it.

pycocoevalcap's ``Cider`` *is* CIDEr-D: tf-idf n-gram vectors (n = 1..4) with the document
frequency taken from the reference captions of the evaluated corpus, candidate weights clipped
by the reference weights, a Gaussian length penalty ``exp(-delta^2 / (2 sigma^2))`` with
sigma = 6, the mean over n and over references, and a final x10.

As in the original, the "length" in the penalty is counted on bigrams, not words (term
frequencies where ``len(ngram) - 1 == 1``). That never changes a score: for non-empty captions
both sides are one shorter, so delta is the same, and an empty caption scores 0 regardless.

Because the idf comes from the evaluated corpus, scores depend on the whole corpus: a single
image always scores 0 (every idf is log(1) - log(df) = 0).
"""

import math
from collections import Counter
from collections.abc import Sequence

from jarvl.evaluation.metrics.bleu import check_corpus, ngram_counts


def _tfidf(counts: Counter, doc_freq: Counter, log_num_images: float, n: int):
    """Map n-gram counts to per-order tf-idf dicts, their L2 norms and the (bigram) length."""
    vec = [{} for _ in range(n)]
    norm = [0.0] * n
    length = 0
    for gram, tf in counts.items():
        order = len(gram) - 1
        # n-grams absent from all references get df = 1, i.e. log(df) = 0.
        weight = float(tf) * (log_num_images - math.log(max(1.0, doc_freq[gram])))
        vec[order][gram] = weight
        norm[order] += weight**2
        if order == 1:
            length += tf
    return vec, [math.sqrt(x) for x in norm], length


def _similarity(hyp, ref, n: int, sigma: float) -> list[float]:
    """Per-order clipped cosine times the Gaussian length penalty (``CiderScorer.sim``)."""
    (vec_h, norm_h, len_h), (vec_r, norm_r, len_r) = hyp, ref
    delta = float(len_h - len_r)
    penalty = math.e ** (-(delta**2) / (2 * sigma**2))
    val = [0.0] * n
    for k in range(n):
        for gram, weight in vec_h[k].items():
            ref_weight = vec_r[k].get(gram, 0.0)
            val[k] += min(weight, ref_weight) * ref_weight  # CIDEr-D clipping
        if norm_h[k] != 0 and norm_r[k] != 0:
            val[k] /= norm_h[k] * norm_r[k]
        val[k] *= penalty
    return val


def cider_d_scores(candidates: Sequence[str], references: Sequence[Sequence[str]], n: int = 4, sigma: float = 6.0) -> list[float]:
    """Per-image CIDEr-D scores (pycocoevalcap ``Cider().compute_score(...)[1]``).

    Args:
        candidates: one tokenised candidate caption per image.
        references: per image, a non-empty list of tokenised reference captions; they are also
            the corpus the document frequencies are counted on.
        n: largest n-gram order.
        sigma: standard deviation of the Gaussian length penalty.

    Returns:
        One score per image, >= 0 (x10 scaled, so typically in [0, 10]).
    """
    check_corpus(candidates, references)
    ref_counts = [[ngram_counts(r, n) for r in refs] for refs in references]
    doc_freq = Counter()
    for refs in ref_counts:
        doc_freq.update({gram for counts in refs for gram in counts})
    log_num_images = math.log(float(len(references)))
    scores = []
    for cand, refs in zip(candidates, ref_counts, strict=True):
        hyp = _tfidf(ngram_counts(cand, n), doc_freq, log_num_images, n)
        total = [0.0] * n
        for counts in refs:
            sim = _similarity(hyp, _tfidf(counts, doc_freq, log_num_images, n), n, sigma)
            total = [t + s for t, s in zip(total, sim, strict=True)]
        scores.append(sum(total) / n / len(refs) * 10.0)
    return scores


def cider_d(candidates: Sequence[str], references: Sequence[Sequence[str]], n: int = 4, sigma: float = 6.0) -> float:
    """Corpus CIDEr-D: mean of ``cider_d_scores`` (pycocoevalcap ``Cider().compute_score()[0]``)."""
    scores = cider_d_scores(candidates, references, n=n, sigma=sigma)
    return sum(scores) / len(scores)
