import math, torch, types
import torch.nn.functional as F
from torch import nn
from jarvl.models.model import JARVLModel
from jarvl.models.fusions.gated import GatedCrossAttention

def attn_core(attn, x, ctx, kind):
    q = attn._split(attn.q(x)); k, v = attn.kv(ctx).chunk(2, dim=-1); k, v = attn._split(k), attn._split(v)
    s = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    if kind == "sigmoid":
        w = torch.sigmoid(s - math.log(k.shape[2]))
    else:
        w = s.softmax(-1)
    o = (w @ v).transpose(1, 2).reshape(x.shape)
    return o

def patch_gca(mod, kind, mult):
    if mult:
        mod.mult = nn.Linear(mod.norm_t.normalized_shape[0], mod.norm_t.normalized_shape[0])
    def forward(self, t, f, f_mask=None, *, return_attn=False):
        t = self.norm_t(t)
        o = attn_core(self.attn, t, self.norm_f(f), kind)
        if mult:
            o = o * self.mult(t)
        cross = self.attn.out(o)
        p = t + self.alpha(cross)
        return p + self.beta(self.mlp(p)), None
    mod.forward = types.MethodType(forward, mod)

def build(name, cfg):
    m = JARVLModel(cfg)
    kind = "sigmoid" if "sigmoid" in name else "softmax"
    mult = "mult" in name
    for mod in m.modules():
        if isinstance(mod, GatedCrossAttention):
            patch_gca(mod, kind, mult)
    if mult:  # init the new linears like the rest
        from jarvl.models.layers import init_weights
        for mod in m.modules():
            if isinstance(mod, GatedCrossAttention): init_weights(mod.mult)
    return m

_build = build
def build(name, cfg):
    if name == "film":
        from film import FiLM
        return FiLM(cfg.text.vocab_size)
    return _build(name, cfg)

from jarvl.models.fusions.jar import JARFusion
from jarvl.models.fusions.base import FusionOutput
def jar_forward_tokens(self, image, text, text_mask):
    f_n, _ = self.image_resampler(image, None)
    t_n, _ = self.text_resampler(text, text_mask)
    t = t_n; fused = t_n
    for i, (fuse, layers) in enumerate(zip(self.fuse, self.refine)):
        if i > 0: t = self._combine(t_n, fused, i - 1)
        fused, _ = fuse(t, image if self._read_tokens else f_n)
        for layer in layers: fused = layer(fused)
    mask = torch.ones(fused.shape[:2], dtype=torch.bool, device=fused.device)
    return FusionOutput(self.norm(fused), mask, {})

_build2 = build
def build(name, cfg):
    m = _build2(name, cfg)
    if "tokens" in name:
        m.fusion._read_tokens = True
        m.fusion.forward = types.MethodType(jar_forward_tokens, m.fusion)
    return m

_build3 = build
def build(name, cfg):
    if name.startswith("hyb_"):
        from film import Hybrid
        return Hybrid(cfg, name[4:])
    return _build3(name, cfg)
