"""Named model variants for the bisection harness: FiLM, FiLM/JAR hybrids, and JAR with one part changed.

``build(name, cfg)``: ``film``; ``hyb_<parts>`` (see ``film.Hybrid``); otherwise the tiny JAR model with
each of these words in ``name`` applied: ``sigmoid`` (sigmoid attention, bias -log S, in the gated
cross-attentions), ``mult`` (their attended values multiplied by a linear map of the query), ``tokens``
(they read the image tokens instead of the resampled latents f_N).
"""
import math
import types

import torch
from torch import nn

from jarvl.models.fusions.gated import GatedCrossAttention
from jarvl.models.layers import init_weights
from jarvl.models.model import JARVLModel


def attend(attn, x, ctx, kind):
    """The attended values of ``attn`` (before its output projection), softmax or sigmoid weights."""
    q = attn._split(attn.q(x))
    k, v = (attn._split(t) for t in attn.kv(ctx).chunk(2, dim=-1))
    s = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    w = torch.sigmoid(s - math.log(k.shape[2])) if kind == "sigmoid" else s.softmax(-1)
    return (w @ v).transpose(1, 2).reshape(x.shape)


def patch_gated(mod, kind, mult):
    """Replace ``mod``'s forward (Eq. 3) by one with ``kind`` attention and, with ``mult``, a product read-out."""
    if mult:
        width = mod.norm_t.normalized_shape[0]
        mod.mult = nn.Linear(width, width)  # initialised by build(), after every layer exists (the results' RNG order)

    def forward(self, t, f, f_mask=None, *, return_attn=False):
        t = self.norm_t(t)
        o = attend(self.attn, t, self.norm_f(f), kind)
        if mult:
            o = o * self.mult(t)
        p = t + self.alpha(self.attn.out(o))
        return p + self.beta(self.mlp(p)), None

    mod.forward = types.MethodType(forward, mod)


class Tokens(nn.Module):
    """Stands in for the image resampler: the image tokens themselves, float[B, M, D] -> float[B, M, D]."""

    def forward(self, x, mask=None, *, return_attn=False):
        return x, None


def build(name, cfg):
    """The model called ``name`` (see the module docstring)."""
    if name == "film":
        from film import FiLM

        return FiLM(cfg.text.vocab_size)
    if name.startswith("hyb_"):
        from film import Hybrid

        return Hybrid(cfg, name[4:])
    m = JARVLModel(cfg)
    kind = "sigmoid" if "sigmoid" in name else "softmax"
    if kind == "sigmoid" or "mult" in name:
        for mod in m.modules():
            if isinstance(mod, GatedCrossAttention):
                patch_gated(mod, kind, "mult" in name)
        for mod in m.modules():
            if hasattr(mod, "mult"):
                init_weights(mod.mult)
    if "tokens" in name:
        m.fusion.image_resampler = Tokens()
    return m
