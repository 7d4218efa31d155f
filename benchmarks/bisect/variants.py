"""Named model variants for the bisection harness: FiLM, FiLM/JAR hybrids, and JAR with one part changed.

``build(name, cfg)``: ``film``; ``hyb_<parts>`` (see ``film.Hybrid``); otherwise the tiny JAR model with
each of these words in ``name`` applied: ``sigmoid`` (sigmoid attention, bias -log S, in the gated
cross-attentions), ``mult`` (their attended values multiplied by a linear map of the query), ``tokens``
(they read the image tokens instead of the resampled latents f_N); ``jarstem_<words>``: JAR with the
stem ``film.make_stem(words)``.
"""
import math
import types

import torch
from torch import nn

from jarvl.models.fusions.gated import GatedCrossAttention
from jarvl.blocks.layers import init_weights
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


class Oracle(nn.Module):
    """Stands in for the image encoder with the scene's state: int[B, 5] (shape, colour, size, x, y) ->
    float[B, 64, D]: the 8x8 cell under the object holds embeddings of its shape, colour and size, the
    other cells a learned background vector; all cells add the encoder's sin-cos positions."""

    def __init__(self, width, positions):
        super().__init__()
        self.shape, self.color, self.size = nn.Embedding(3, width), nn.Embedding(16, width), nn.Embedding(2, width)
        self.bg = nn.Parameter(torch.randn(width) * 0.02)
        self.register_buffer("pos", positions)

        self.rgb = None

    def forward(self, obj):
        b = obj.shape[0]
        cell = (obj[:, 4] // 8) * 8 + obj[:, 3] // 8
        x = self.bg.expand(b, 64, -1).clone()
        color = self.color(obj[:, 1]) if self.rgb is None else self.rgb(self.palette[obj[:, 1]])
        x[torch.arange(b), cell] = self.shape(obj[:, 0]) + color + self.size(obj[:, 2])
        return x + self.pos


class OracleMulti(Oracle):
    """The oracle for several objects: int[B, K, 5] (padded with -1) -> float[B, 64, D]; each object's
    cell holds its shape + colour + size embeddings (objects never share an 8x8 cell), the rest background."""

    def forward(self, objs):
        b, k, _ = objs.shape
        x = self.bg.expand(b, 64, -1).clone()
        real = objs[..., 0] >= 0
        o = objs[real]
        rows = torch.arange(b).unsqueeze(1).expand(b, k)[real]
        cell = (o[:, 4] // 8) * 8 + o[:, 3] // 8
        x = x.index_put((rows, cell), self.shape(o[:, 0]) + self.color(o[:, 1]) + self.size(o[:, 2]))
        return x + self.pos


class OraclePix(Oracle):
    """The oracle's layout (object in one cell, one learned background vector), but the object's token is a
    linear map of the real 8x8 pixel patch centred on the object: (int[B, 5], float[B, 3, 64, 64]) -> float[B, 64, D]."""

    def __init__(self, width, positions):
        super().__init__(width, positions)
        self.patch = nn.Linear(192, width)
        nn.init.kaiming_normal_(self.patch.weight, nonlinearity="linear")

    def forward(self, inputs):
        obj, px = inputs
        b = obj.shape[0]
        padded = torch.nn.functional.pad(px, (4, 4, 4, 4), value=0.0)
        rows = torch.stack([padded[i, :, obj[i, 4]:obj[i, 4] + 8, obj[i, 3]:obj[i, 3] + 8] for i in range(b)])
        cell = (obj[:, 4] // 8) * 8 + obj[:, 3] // 8
        x = self.bg.expand(b, 64, -1).clone()
        x[torch.arange(b), cell] = self.patch(rows.flatten(1))
        return x + self.pos


def linear_colour(oracle, width):
    """The oracle's colour as a linear map of its normalised RGB (as a linear stem sees it), not a category."""
    from jarvl.imagenet import IMAGENET_MEAN as MEAN, IMAGENET_STD as STD
    from jarvl.data.synthetic.config import COLORS

    rgb = (torch.tensor(list(COLORS.values())).float() - torch.tensor(MEAN)) / torch.tensor(STD)
    oracle.register_buffer("palette", rgb)
    oracle.rgb = nn.Linear(3, width)
    nn.init.normal_(oracle.rgb.weight, std=1.0)


class LocalBias(nn.Module):
    """A 2-D locality prior for a latent resampler: latent i has a home cell on a sqrt(N) x sqrt(N) grid over
    the g x g token grid; its logit for token m gets -gamma_h * squared distance (gamma per head, learned)."""

    def __init__(self, n, grid, heads, gamma=1.0):
        super().__init__()
        k = int(n ** 0.5); step = grid / k
        home = (torch.arange(k).float() + 0.5) * step - 0.5
        hy, hx = torch.meshgrid(home, home, indexing="ij")
        ty, tx = torch.meshgrid(torch.arange(grid).float(), torch.arange(grid).float(), indexing="ij")
        d2 = (hy.flatten()[:, None] - ty.flatten()[None]) ** 2 + (hx.flatten()[:, None] - tx.flatten()[None]) ** 2
        self.register_buffer("d2", d2)  # (N, S)
        self.log_gamma = nn.Parameter(torch.full((heads, 1, 1), math.log(gamma)))

    def forward(self):
        return -self.log_gamma.exp() * self.d2  # (h, N, S)


def local_resampler(res, grid, gamma):
    """Give LatentResampler ``res`` the locality prior (its Eq. 2 forward with the bias added to the logits)."""
    heads = res.attn.heads
    res.local = LocalBias(res.queries.shape[1], grid, heads, gamma)

    def forward(self, x, mask=None, *, return_attn=False):
        q0 = self.queries.expand(x.shape[0], -1, -1)
        a = self.attn
        q = a._split(a.q(self.norm_q(q0)))
        k, v = (a._split(t) for t in a.kv(self.norm_x(x)).chunk(2, dim=-1))
        z = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=self.local()[None])
        z = q0 + a.out(z.transpose(1, 2).reshape(q0.shape))
        z = z + self.mlp(self.norm_mlp(z))
        return self.proj(z), None

    res.forward = types.MethodType(forward, res)


def add_logit_readout(mod):
    """Expose GatedCrossAttention ``mod``'s match scores: per query and head the max attention logit over the
    context (before softmax hides it) is mapped by a linear layer to the width and added to the attention output."""
    width = mod.norm_t.normalized_shape[0]
    heads = mod.attn.heads
    mod.score = nn.Linear(heads, width)  # PyTorch's default Linear init, as in the recorded runs (the prototype of fusion.match_scores)

    def forward(t, f, f_mask=None, *, return_attn=False):
        self = mod
        t = self.norm_t(t)
        a = self.attn
        q = a._split(a.q(t))
        k, v = (a._split(x) for x in a.kv(self.norm_f(f)).chunk(2, dim=-1))
        s = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5  # (B, h, N, S)
        o = (s.softmax(-1) @ v).transpose(1, 2).reshape(t.shape)
        o = a.out(o) + self.score(s.amax(-1).transpose(1, 2))
        p = t + self.alpha(o)
        return p + self.beta(self.mlp(p)), None

    mod.forward = forward


def add_null(mod):
    """Give GatedCrossAttention ``mod`` a learned null token appended to its context (an attention sink:
    attention mass on the real tokens then means that something matched)."""
    width = mod.norm_t.normalized_shape[0]
    mod.null = nn.Parameter(torch.randn(1, 1, width))
    inner = mod.forward

    def forward(t, f, f_mask=None, *, return_attn=False):
        f = torch.cat([f, mod.null.expand(f.shape[0], -1, -1)], 1)
        return inner(t, f, None, return_attn=return_attn)

    mod.forward = forward


def add_relational_readout(layer):
    """Give a refine ``TransformerLayer``'s self-attention a relational match read-out: per query and head
    the best logit over the *other* tokens (self masked out), through a linear map added to its output.
    The logit q_i.k_j is bilinear in two tokens' contents, so "is A the same size as B" (the product of
    what token A and token B retrieved) becomes a first-order feature of W_q, W_k."""
    attn = layer.attn
    width, heads = attn.q.in_features, attn.heads
    attn.rel = nn.Linear(heads, width)
    nn.init.zeros_(attn.rel.weight)
    nn.init.zeros_(attn.rel.bias)

    def forward(x, context=None, *, key_mask=None, **_):
        q = attn._split(attn.q(x))
        k, v = (attn._split(t) for t in attn.kv(x).chunk(2, dim=-1))
        s = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5  # (B, h, T, T)
        if key_mask is not None:
            s = s.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        out = (s.softmax(-1) @ v).transpose(1, 2).reshape(x.shape)
        eye = torch.eye(s.shape[-1], dtype=torch.bool, device=s.device)
        best = s.masked_fill(eye, float("-inf")).amax(-1)  # (B, h, T): the best *other* token
        best = torch.where(torch.isfinite(best), best, torch.zeros_like(best)).transpose(1, 2)
        return attn.out(out) + attn.rel(best), None

    attn.forward = forward


def build(name, cfg):
    """The model called ``name`` (see the module docstring)."""
    if name == "film":
        from film import FiLM

        return FiLM(cfg.text.vocab_size)
    if name.startswith("hyb_"):
        from film import Hybrid

        return Hybrid(cfg, name[4:])
    if "mass" in name:  # the prototype of fusion.match_count (same read-out, same init)
        cfg.fusion.match_count = True
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
    if "textok" in name:  # the text tokens themselves as the text latents (no text resampler)
        m.fusion.text_resampler = Tokens()
    if "lmax" in name:
        for mod in list(m.modules()):
            if isinstance(mod, GatedCrossAttention):
                add_logit_readout(mod)
    if "rel" in name.split("_"):
        for layers in m.fusion.refine:
            for layer in layers:
                add_relational_readout(layer)
    if "null" in name:
        for mod in list(m.modules()):
            if isinstance(mod, GatedCrossAttention):
                add_null(mod)
    if "local" in name:
        gamma = float(name.split("local")[1].split("_")[0] or 1.0)
        local_resampler(m.fusion.image_resampler, cfg.vision.image_size // cfg.vision.patch_size, gamma)
    if "oracle" in name:
        cls = OraclePix if "oraclepix" in name else OracleMulti if "oraclem" in name else Oracle
        m.image_encoder = cls(cfg.vision.width, m.image_encoder.pos)
        if "rgb" in name:
            linear_colour(m.image_encoder, cfg.vision.width)
    if name.startswith("jarstem_"):
        from film import make_stem

        m.image_encoder.stem = make_stem(name.split("_"), cfg.vision.width, cfg.vision.patch_size)
    return m
