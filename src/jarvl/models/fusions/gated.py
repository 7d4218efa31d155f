"""Gated cross-attention fusion, PAPER.md Eq. 3 (Flamingo-style tanh gates)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jarvl.blocks.layers import MLP, Attention, TanhGate


class GatedCrossAttention(nn.Module):
    """Eq. 3: P = LN(t) + tanh(alpha) Phi(LN(t), LN(f));  F = P + tanh(beta) MLP(P).

    ``t`` float[B, N, D] queries ``f`` float[B, S, D] (``f_mask`` bool[B, S]). With
    alpha = beta = 0 the output is LN(t): the image pathway starts as the identity.

    With ``match_scores`` Phi also reads out what softmax hides: per query and head, the largest
    attention logit over the context (how well the best key matches) goes through a linear map
    ``score`` (heads -> D) and is added to the attention output. The logit q.k is a bilinear match
    between a text latent and an image token; softmax weights sum to one whether or not anything
    matches, so without this read-out "is there a blue triangle?" has no first-order signal.
    ``match_count`` adds, per head, the softmax normaliser relative to that best logit (about log k
    when k keys match: "how many red objects?"), so ``score`` maps 2 x heads -> D. ``match_where``
    adds, per head, the attention-weighted mean (x, y) of the context tokens (``positions``, given
    to ``forward``): where the matched object is, first-order ("is the red circle left of the blue
    square?" compares two such read-outs), 2 x heads more inputs to ``score``. ``position_queries``
    lets each query ask where: a linear map of the query to a 2-vector per head (``where_q``, zero at
    init) whose dot product with each context token's (x, y) is added to its logit (Conditional
    DETR's spatial query), so "the object left of ..." can prefer the left cells first-order; it
    needs ``positions`` too, and ``cell_logits`` includes it. ``match_roles`` (with ``match_where``)
    gives every query's score, per head, the signed sum sum_i c_i where_i of the queries' where
    read-outs with their roles c_i (``forward``'s ``roles``): with c = -1/n on the first referent's
    words and +1/n on the second's, p_B - p_A (``ReferringConfig.roles`` and ``offset`` train both).
    ``match_direction`` (with ``match_roles``) lets the question ask which way: each query's learned
    2-vector u_i per head (a linear map ``where_u``, zero at init), summed over the real queries
    (``forward``'s ``query_mask``) into the question's direction u, and the projection
    u . sum_i c_i where_i of the signed read-out onto it, one more score input per head for every
    query: "is A <rel> B?" is the sign of one number whatever the relation, when the relation
    word's u_i points along its direction and the other words' are 0 (``ReferringConfig.directions``).
    ``match_tally`` (with ``match_roles``) counts what each query matches: its tally n_i =
    sum_j sigmoid(l_ij + b) over the context tokens, l_ij the attention logit mean over heads (the
    referring logit, ``cell_logits``) and b a learned bias (``tally_bias``), about the number of objects
    the word names when l_ij is trained to say which cells hold them (the phrase targets; the count
    target ``ReferringConfig.tally`` moves b only, through ``self.tally``, the logits detached); the
    score reads n_i and the roles' signed tally sum_i c_i n_i = n_B - n_A. With ``match_direction`` too,
    u_i has three more components per head, read against (n_B - n_A, |n_B - n_A|, 1): "are there more
    A than B?" asks (-1, 0, -1/2), so that the answer is again the sign of the read-out along u.
    ``match_same`` = A > 0 (with ``match_roles``) compares the two referents' contents: the roles'
    signed sum of the queries' attention outputs, o_B - o_A, whose magnitude a linear map ``same``
    turns into A logits (one per attribute: "do they agree on it?"; ``ReferringConfig.same`` fits the
    map through ``self.agree``, the contents detached); the score reads them, and with
    ``match_direction`` u_i has A more components read against them.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float = 4.0,
        gate_init: float = 0.0,
        *,
        match_scores: bool = False,
        match_count: bool = False,
        match_where: bool = False,
        position_queries: bool = False,
        match_roles: bool = False,
        match_direction: bool = False,
        match_tally: bool = False,
        match_same: int = 0,
    ) -> None:
        super().__init__()
        self.norm_t = nn.LayerNorm(dim)
        self.norm_f = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        if match_count and not match_scores:
            raise ValueError("match_count needs match_scores")
        if match_where and not match_scores:
            raise ValueError("match_where needs match_scores")
        if position_queries and not match_scores:
            raise ValueError("position_queries needs match_scores")
        self.match_count, self.match_where = match_count, match_where
        # A raw parameter, not an nn.Linear: the model's init (Xavier) must not overwrite the zero start.
        self.where_q = nn.Parameter(torch.zeros(2 * heads, dim)) if position_queries else None
        if match_roles and not match_where:
            raise ValueError("match_roles needs match_where")
        self.match_roles = match_roles
        if match_direction and not match_roles:
            raise ValueError("match_direction needs match_roles")
        if match_tally and not match_roles:
            raise ValueError("match_tally needs match_roles")
        if match_same and not match_roles:
            raise ValueError("match_same needs match_roles")
        self.asks = 2 + 3 * match_tally + match_same  # u_i's components per head: (x, y) [, dn, |dn|, 1] [, same_a]
        self.same = nn.Linear(dim, match_same) if match_same else None
        self.where_u = nn.Parameter(torch.zeros(self.asks * heads, dim)) if match_direction else None  # raw: zero start
        # The tally's threshold: sigmoid(l + b) starts at ~1/S per token, a tally of ~1 (not S/2).
        self.tally_bias = nn.Parameter(torch.tensor(-4.0)) if match_tally else None
        self.signed: torch.Tensor | None = None  # the last forward's signed read-out float[B, 2h] (match_roles)
        self.asked: torch.Tensor | None = None  # the last forward's u_i per query float[B, N, asks, h] (match_direction)
        self.tally: torch.Tensor | None = None  # the last forward's tally per query, logits detached, float[B, N] (match_tally)
        self.agree: torch.Tensor | None = None  # the last forward's sameness logits, contents detached, float[B, A] (match_same)
        self.score = (
            nn.Linear(heads * (1 + match_count + 2 * match_where + 2 * match_roles + match_direction) + 2 * match_tally + match_same, dim)
            if match_scores
            else None
        )
        self.alpha = TanhGate(gate_init)
        self.mlp = MLP(dim, mlp_ratio)
        self.beta = TanhGate(gate_init)

    def forward(
        self,
        t: torch.Tensor,
        f: torch.Tensor,
        f_mask: torch.Tensor | None = None,
        *,
        return_attn: bool = False,
        positions: torch.Tensor | None = None,
        roles: torch.Tensor | None = None,
        query_mask: torch.Tensor | None = None,
        logits_out: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """float[B, N, D], float[B, S, D] -> (float[B, N, D], attention float[B, N, S] or None).
        ``positions`` float[S, 2]: the context tokens' (x, y), needed with ``match_where`` and
        ``position_queries``. ``roles`` float[B, N] (0 on padding), needed with ``match_roles``: each
        query's role c_i; every query's score then also reads sum_i c_i where_i per head. ``query_mask``
        bool[B, N] (True = real; None = all): the queries whose u_i make the question's direction
        (``match_direction``). ``logits_out`` (with ``match_scores``): a list that gets ``cell_logits``'s
        float[B, N, S], from this forward's own q and k (no second projection)."""
        t = self.norm_t(t)
        if self.score is None:
            cross, attn = self.attn(t, self.norm_f(f), key_mask=f_mask, return_attn=return_attn)
        else:
            if (self.match_where or self.where_q is not None) and positions is None:
                raise ValueError("match_where and position_queries need the context tokens' positions")
            f = self.norm_f(f)
            logits = logits_out if logits_out is not None else ([] if self.tally_bias is not None else None)
            cross, attn, best = self.attn.with_match_scores(
                t,
                f,
                key_mask=f_mask,
                return_attn=return_attn,
                count=self.match_count,
                positions=positions if self.match_where else None,
                position_bias=self._position_bias(t, positions),
                logits_out=logits,
            )
            if self.match_roles:
                if roles is None:
                    raise ValueError("match_roles needs the queries' roles")
                where = best[..., -2 * self.attn.heads :]  # (B, N, 2h): x then y per head
                b, n, h = where.shape[0], where.shape[1], self.attn.heads
                c = roles.to(where.dtype).unsqueeze(-1)  # (B, N, 1)
                signed = (c * where).sum(dim=1, keepdim=True)  # (B, 1, 2h)
                parts = [best, signed.expand_as(where)]
                asked_of = signed.view(b, 1, 2, h)  # what u_i is read against, per head
                if self.tally_bias is not None:
                    tally, self.tally = self._tally(logits[0], f_mask)  # (B, N) each
                    diff = (c * tally.unsqueeze(-1)).sum(dim=1, keepdim=True)  # (B, 1, 1): n_B - n_A
                    parts += [tally.unsqueeze(-1), diff.expand(b, n, 1)]
                    extra = torch.cat([diff, diff.abs(), torch.ones_like(diff)], dim=-1)  # (B, 1, 3)
                    asked_of = torch.cat([asked_of, extra.unsqueeze(-1).expand(b, 1, 3, h)], dim=2)  # (B, 1, 5, h)
                if self.same is not None:
                    gap = (c * cross).sum(dim=1).abs()  # (B, D): |o_B - o_A|
                    agree = self.same(gap)  # (B, A)
                    self.agree = self.same(gap.detach())  # what the sameness target fits: the map only
                    a = agree.shape[-1]
                    parts.append(agree.unsqueeze(1).expand(b, n, a))
                    asked_of = torch.cat([asked_of, agree.view(b, 1, a, 1).expand(b, 1, a, h)], dim=2)
                if self.where_u is not None:  # (sum_i u_i) . asked_of per head, the same for every query
                    u = F.linear(t, self.where_u).view(b, n, self.asks, h)  # (B, N, asks, h)
                    self.asked = u  # read by JARFusion for the direction target
                    if query_mask is not None:
                        u = u * query_mask.to(u.dtype).view(b, n, 1, 1)
                    along = (u.sum(dim=1, keepdim=True) * asked_of).sum(dim=2)  # (B, 1, h)
                    parts.append(along.expand(b, n, h))
                best = torch.cat(parts, dim=-1)
                self.signed = signed.squeeze(1)  # (B, 2h): read by JARFusion for the offset target
            cross = cross + self.score(best)
        p = t + self.alpha(cross)
        return p + self.beta(self.mlp(p)), attn

    def _position_bias(self, t: torch.Tensor, positions: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(query float[B, h, N, 2], key float[S, 2]) for ``with_position_bias``, or None without
        ``position_queries``; t float[B, N, D] already normalised."""
        if self.where_q is None:
            return None
        b, n, _ = t.shape
        query = F.linear(t, self.where_q).view(b, n, self.attn.heads, -1).transpose(1, 2)  # (B, h, N, 2)
        return query, positions

    def _tally(self, logits: torch.Tensor, f_mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Each query's tally sum_j sigmoid(l_ij + b) over the real context tokens: logits float[B, N, S]
        (mean over heads, ``cell_logits``'s), ``f_mask`` bool[B, S] -> (tally float[B, N], the same
        with l detached, float[B, N]). The second is what ``ReferringConfig.tally`` fits: a count
        target moves the threshold b only, the logits learn which cells match from the phrase targets
        (measured: fitting the logits to the counts as well slowed every family early on)."""
        keep = None if f_mask is None else f_mask.to(logits.dtype).unsqueeze(1)
        out = []
        for scores in (logits, logits.detach()):
            p = torch.sigmoid(scores + self.tally_bias)
            out.append((p if keep is None else p * keep).sum(dim=-1))
        return out[0], out[1]

    def cell_logits(self, t: torch.Tensor, f: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """The attention logit of every query with every context token, mean over heads: how well
        a text latent (a question word) matches an image token. t float[B, N, D], f float[B, S, D]
        -> float[B, N, S]. The same q, k projections (and position bias, given ``positions``
        float[S, 2]) as ``forward``'s."""
        attn, d = self.attn, t.shape[-1]
        t = self.norm_t(t)
        q = attn._split(attn.q(t))  # (B, h, N, hs)
        k = attn._split(F.linear(self.norm_f(f), attn.kv.weight[:d], attn.kv.bias[:d]))  # (B, h, S, hs)
        logits = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5  # (B, h, N, S)
        bias = self._position_bias(t, positions)
        if bias is not None:
            if positions is None:
                raise ValueError("position_queries needs the context tokens' positions")
            logits = logits + bias[0] @ positions.to(logits.dtype).T
        return logits.mean(dim=1)  # (B, N, S)
