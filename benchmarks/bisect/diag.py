"""At initialisation: share of across-sample variance in each stage of the tiny JAR model (one-object exists data from cache.py)."""
import torch, sys

from jarvl.models.presets import get_preset
from jarvl.models.model import JARVLModel
from jarvl.imagenet import IMAGENET_MEAN as MEAN, IMAGENET_STD as STD
from jarvl.data.tokenizer import Tokenizer
torch.manual_seed(0)
d = torch.load(sys.argv[1], weights_only=True)
tok = Tokenizer.load(sys.argv[1] + ".tok.json")
cfg = get_preset("tiny"); cfg.fusion.gate_init = 1.0; cfg.text.vocab_size = tok.vocab_size
m = JARVLModel(cfg).eval()
mean = torch.tensor(MEAN).view(1,3,1,1); std = torch.tensor(STD).view(1,3,1,1)
s = d["test"]; idx = torch.arange(256)
im = (s["images"][idx].permute(0,3,1,2).float()-mean)/std; ids = s["ids"][idx]; msk = ids != 0
def ratio(name, x):  # x (B, N, D): share of variance that is across samples vs total second moment
    across = x.var(0).sum(-1).mean(); total = (x**2).sum(-1).mean()
    tokvar = x.var(1).sum(-1).mean()
    print(f"{name:28s} sample-var/total {across/total:.3f}   token-var/total {tokvar/total:.3f}")
with torch.no_grad():
    tokens = m.image_encoder(im); ratio("image tokens", tokens)
    img = m.image_proj(tokens); ratio("image proj", img)
    txt = m.text_proj(m.text_encoder(ids, msk)); ratio("text tokens", txt)
    f_n, _ = m.fusion.image_resampler(img); ratio("f_N", f_n)
    t_n, _ = m.fusion.text_resampler(txt, msk); ratio("t_N", t_n)
    out = m.fusion(img, txt, msk); ratio("fused", out.tokens)
    # background-only pixel mean vs object: fraction of pixels that are object
    px = s["images"][idx].float(); bg = torch.tensor([40,40,48.]).view(1,1,1,3)
    print("object pixel fraction", ((px-bg).abs().sum(-1) > 30).float().mean().item())
