"""Greedy and beam-search decoding over a :class:`~jarvl.models.decoder.Decoder`, with or without a cache."""

from __future__ import annotations

import torch

from jarvl.models.decoder import Decoder, reorder_caches


def _step_logits(decoder, seqs, memory, memory_mask, caches) -> torch.Tensor:
    """Log-probabilities of the next token float[B, V] given ``seqs`` long[B, t]."""
    if caches is None:
        logits = decoder(seqs, memory, memory_mask)[:, -1]
    else:
        logits = decoder(seqs[:, -1:], memory, memory_mask, caches, offset=seqs.shape[1] - 1)[:, -1]
    return logits.float().log_softmax(dim=-1)


@torch.no_grad()
def greedy_search(
    decoder: Decoder, memory, memory_mask, *, bos_id: int, eos_id: int, pad_id: int, max_new_tokens: int, use_cache: bool = True
) -> torch.Tensor:
    """memory float[B, K, D], memory_mask bool[B, K] -> generated ids long[B, <= max_new_tokens].

    Stops at EOS per sample (EOS is kept, later positions hold ``pad_id``) or at the length limit.
    """
    b = memory.shape[0]
    seqs = torch.full((b, 1), bos_id, dtype=torch.long, device=memory.device)
    done = torch.zeros(b, dtype=torch.bool, device=memory.device)
    caches = decoder.new_caches() if use_cache else None
    for _ in range(max_new_tokens):
        nxt = _step_logits(decoder, seqs, memory, memory_mask, caches).argmax(dim=-1)
        nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
        seqs = torch.cat([seqs, nxt[:, None]], dim=1)
        done |= nxt == eos_id
        if bool(done.all()):
            break
    return seqs[:, 1:]


@torch.no_grad()
def beam_search(
    decoder: Decoder,
    memory,
    memory_mask,
    *,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    max_new_tokens: int,
    num_beams: int = 4,
    length_penalty: float = 1.0,
    use_cache: bool = True,
) -> torch.Tensor:
    """Beam search; returns the best hypothesis per sample, long[B, <= max_new_tokens].

    Hypotheses are ranked by sum log p / length^``length_penalty`` (length counts EOS). A beam that
    has emitted EOS only extends with ``pad_id`` at no cost, so it keeps its score.
    """
    b, k = memory.shape[0], num_beams
    mem = memory.repeat_interleave(k, dim=0)
    mem_mask = memory_mask.repeat_interleave(k, dim=0)
    seqs = torch.full((b * k, 1), bos_id, dtype=torch.long, device=memory.device)
    scores = torch.full((b, k), float("-inf"), device=memory.device)
    scores[:, 0] = 0.0  # all beams start identical: keep only one alive at first
    scores = scores.view(-1)
    lengths = torch.zeros(b * k, device=memory.device)
    done = torch.zeros(b * k, dtype=torch.bool, device=memory.device)
    caches = decoder.new_caches() if use_cache else None
    for _ in range(max_new_tokens):
        logp = _step_logits(decoder, seqs, mem, mem_mask, caches)  # (B*k, V)
        vocab = logp.shape[-1]
        frozen = torch.full_like(logp, float("-inf"))
        frozen[:, pad_id] = 0.0
        logp = torch.where(done[:, None], frozen, logp)
        total = (scores[:, None] + logp).view(b, k * vocab)
        new_len = (lengths + (~done).float())[:, None].expand(-1, vocab).reshape(b, k * vocab)
        rank = total / new_len.clamp(min=1).pow(length_penalty)
        rank = torch.where(torch.isfinite(total), rank, torch.full_like(rank, float("-inf")))
        top = rank.topk(k, dim=-1).indices  # (B, k)
        beam = top // vocab + torch.arange(b, device=memory.device)[:, None] * k
        beam, token = beam.view(-1), (top % vocab).view(-1)
        scores = total.gather(1, top).view(-1)
        lengths = new_len.gather(1, top).view(-1)
        seqs = torch.cat([seqs.index_select(0, beam), token[:, None]], dim=1)
        done = done.index_select(0, beam) | (token == eos_id)
        if caches is not None:
            reorder_caches(caches, beam)
        if bool(done.all()):
            break
    final = (scores / lengths.clamp(min=1).pow(length_penalty)).view(b, k)
    best = final.argmax(dim=-1) + torch.arange(b, device=memory.device) * k
    return seqs.index_select(0, best)[:, 1:]
