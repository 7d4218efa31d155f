"""Fast bisection harness: train a tiny model on cached one-object exists, eval yes/no on the 2000 test qs."""
import argparse, json, sys, time, torch, numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from jarvl.models.presets import get_preset
from jarvl.data.tokenizer import Tokenizer
from jarvl.imagenet import IMAGENET_MEAN as MEAN, IMAGENET_STD as STD
from jarvl.config import apply_overrides

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--fusion", default="jar")
p.add_argument("--lr", type=float, default=3e-4)
p.add_argument("--samples", type=int, default=45000)
p.add_argument("--bs", type=int, default=64)
p.add_argument("--eval_every", type=int, default=3200)
p.add_argument("--set", action="append", default=[])
p.add_argument("--variant", default="")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--wd", type=float, default=0.05)
p.add_argument("--out", default="")
p.add_argument("--pre", default="", help="a cache (same tokenizer) to train on first, e.g. captions")
p.add_argument("--pre_samples", type=int, default=0)
p.add_argument("--aux", type=float, default=0.0, help="weight of a per-cell loss on the image tokens: each 8x8 cell's object colour/shape/size (or none), from the scene")
p.add_argument("--eval", default="yesno", choices=["yesno", "first"], help="yesno: the yes/no logits; first: argmax of the first answer token, per family")
a = p.parse_args()
torch.manual_seed(a.seed)
torch.set_num_threads(1)
d = torch.load(a.data, weights_only=True)
tok = Tokenizer.load(a.data + ".tok.json")
cfg = get_preset("tiny", a.fusion)
cfg.fusion.gate_init = 1.0
cfg.text.vocab_size = tok.vocab_size
cfg = apply_overrides(cfg, a.set)
import variants
model = variants.build(a.variant, cfg)
mean = torch.tensor(MEAN).view(1, 3, 1, 1); std = torch.tensor(STD).view(1, 3, 1, 1)
pre = torch.load(a.pre, weights_only=True) if a.pre else None
def prep(split, idx):
    s = pre["train"] if split == "pre" else d[split]
    if "oraclepix" in a.variant:
        im = (s["objects"][idx], (s["images"][idx].permute(0, 3, 1, 2).float() - mean) / std)
    elif "oraclem" in a.variant:
        im = s["all_objects"][idx]
    elif "oracle" in a.variant:
        im = s["objects"][idx]
    else:
        im = (s["images"][idx].permute(0, 3, 1, 2).float() - mean) / std
    ids = s["ids"][idx]; tg = s["targets"][idx]
    L = int((ids != 0).sum(1).max()); T = int((tg != 0).sum(1).max())
    ids = ids[:, :L]; tg = tg[:, :T]
    return im, ids, ids != 0, tg
captured = {}
if a.aux:
    width = cfg.vision.width
    model.aux_heads = torch.nn.ModuleDict({"color": torch.nn.Linear(width, 9), "shape": torch.nn.Linear(width, 4), "size": torch.nn.Linear(width, 3)})
    model.image_encoder.register_forward_hook(lambda mod, inp, out: captured.__setitem__("tokens", out))
def cell_labels(objs):
    """int[B, K, 5] (shape, colour, size, x, y; -1 padded) -> per attribute long[B, 64]: the class of the object centred in each cell, else the last class (none)."""
    b, k, _ = objs.shape
    out = {name: torch.full((b, 64), n, dtype=torch.long) for name, n in (("shape", 3), ("color", 8), ("size", 2))}
    real = objs[..., 0] >= 0
    o = objs[real]; rows = torch.arange(b).unsqueeze(1).expand(b, k)[real]
    cell = (o[:, 4] // 8) * 8 + o[:, 3] // 8
    for col, name in ((0, "shape"), (1, "color"), (2, "size")):
        out[name][rows, cell] = o[:, col]
    return out
decay = [p_ for n, p_ in model.named_parameters() if p_.ndim >= 2]
nodecay = [p_ for n, p_ in model.named_parameters() if p_.ndim < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": nodecay, "weight_decay": 0}], lr=a.lr, betas=(0.9, 0.98))
steps = (a.samples + a.pre_samples) // a.bs
pre_steps = a.pre_samples // a.bs
yes, no = tok.encode("yes")[0], tok.encode("no")[0]
def evaluate():
    if a.eval == "first":
        return evaluate_first()
    model.eval(); correct = 0
    with torch.no_grad():
        for i in range(0, 2000, 500):
            idx = torch.arange(i, i + 500)
            im, ids, m, tg = prep("test", idx)
            logits = model(im, ids, m, tg).logits[:, 0]
            pred = torch.where(logits[:, yes] > logits[:, no], yes, no)
            correct += (pred == tg[:, 0]).sum().item()
    model.train(); return correct / 20
fam_acc = {}
def evaluate_first():
    """Argmax of the first answer token against the target's (the synthetic answers are one token), overall and per family."""
    model.eval(); hits = []
    with torch.no_grad():
        for i in range(0, 2000, 500):
            idx = torch.arange(i, i + 500)
            im, ids, m, tg = prep("test", idx)
            hits.append(model(im, ids, m, tg).logits[:, 0].argmax(-1) == tg[:, 0])
    model.train(); hits = torch.cat(hits).float()
    fams = d["test"]["family"]
    forms = [f + ":" + q.split()[0] for f, q in zip(fams, d["test"]["prompts"])]  # the family's form (e.g. compare:are / compare:is)
    for groups in (fams, forms):
        for f in sorted(set(groups)):
            if groups is forms and f.split(":")[0] not in ("compare", "spatial"):
                continue
            sel = torch.tensor([x == f for x in groups])
            fam_acc[f] = round(100 * hits[sel].mean().item(), 1)
    return 100 * hits.mean().item()
n = d["train"]["ids"].shape[0]
g = torch.Generator().manual_seed(a.seed)
perm = torch.randperm(n, generator=g)
curve = []; t0 = time.time(); seen = 0; losses = []
for step in range(steps):
    lr = a.lr * min(1, (step + 1) / 100)
    for gr in opt.param_groups: gr["lr"] = lr
    split = "pre" if step < pre_steps else "train"
    k = step if split == "pre" else step - pre_steps
    idx = perm[(k * a.bs) % n: (k * a.bs) % n + a.bs]
    im, ids, m, tg = prep(split, idx)
    out = model(im, ids, m, tg)
    loss = out.loss
    if a.aux:
        src = pre["train"] if split == "pre" else d["train"]
        labels = cell_labels(src["all_objects"][idx])
        tokens = captured["tokens"]  # (B, 64, width)
        aux = sum(torch.nn.functional.cross_entropy(model.aux_heads[k_](tokens).flatten(0, 1), labels[k_].flatten()) for k_ in labels)
        loss = loss + a.aux * aux
    opt.zero_grad(); loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
    seen += a.bs; losses.append(out.loss.item())
    if seen % a.eval_every < a.bs or step == steps - 1:
        acc = evaluate(); curve.append((seen, acc, dict(fam_acc)))
        print(f"{a.variant or a.fusion} {seen:6d} loss {np.mean(losses[-50:]):.3f} acc {acc:.1f} t {time.time()-t0:.0f}s {fam_acc if fam_acc else ''}", flush=True)
if a.out:
    json.dump(dict(args=vars(a), curve=curve, time=time.time() - t0), open(a.out, "w"))
