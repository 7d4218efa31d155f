"""The vision tower alone on the grounding objective: how fast does it learn to see the demo's scenes?

A research tool (session 8, issue 11), not part of the library. Three steps:

    python vision.py cache 60000 /tmp/vis60k.pt            # demo scenes (train split) + 2,000 test scenes, grid targets
    python vision.py train /tmp/vis60k.pt --samples 40000 --save /tmp/vis40k.pt
    jarvl train --config src/jarvl/configs/demo.yaml --out /tmp/init0 --max-steps 0   # a step-0 run of the recipe
    python vision.py into /tmp/vis40k.pt /tmp/init0        # its image encoder and grounding heads replaced
    jarvl train --config src/jarvl/configs/demo.yaml --init-from /tmp/init0 --out runs/ft ...

``train`` reports, on the 2,000 test scenes' object cells, the accuracy of each attribute (colour,
shape, size), of all three at once, and of "no object" on the empty cells. Results:
``benchmarks/results/notes/vision_pretrain.md``.
"""

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from jarvl.blocks.layers import init_weights
from jarvl.config import from_dict
from jarvl.data.collate import GridTargets
from jarvl.data.synthetic.config import SynthConfig
from jarvl.data.synthetic.dataset import SyntheticDataset
from jarvl.imagenet import IMAGENET_MEAN, IMAGENET_STD
from jarvl.models.image_encoder import ImageEncoder
from jarvl.models.presets import get_preset

LABELS = {"color": ["red", "green", "blue", "yellow", "purple", "cyan", "orange", "brown"],
          "shape": ["circle", "square", "triangle"], "size": ["small", "large"]}  # the demo recipe's grounding labels


def cache(n: int, out: str) -> None:
    cfg, grid = from_dict(SynthConfig, {"min_objects": 3, "max_objects": 6}), GridTargets(LABELS, 8)

    def split(name, k):
        ds = SyntheticDataset("vqa", name, k, 0, cfg)
        samples = [ds[i] for i in range(k)]
        return {"images": torch.from_numpy(np.stack([np.asarray(s.image) for s in samples])),
                "targets": torch.stack([grid(s, 64, 64) for s in samples])}

    t = time.time()
    torch.save({"train": split("train", n), "test": split("test", 2000)}, out)
    print(f"rendered {n} + 2000 scenes in {time.time() - t:.0f} s -> {out}")


def train(a) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    d = torch.load(a.data, weights_only=True)
    cfg = get_preset("tiny", "jar").vision
    enc = ImageEncoder(cfg)
    heads = torch.nn.ModuleList(torch.nn.Linear(cfg.width, len(v) + 1) for v in LABELS.values())
    enc.apply(init_weights)
    heads.apply(init_weights)
    params = [*enc.parameters(), *heads.parameters()]
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.05, betas=(0.9, 0.98))
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def prep(s, idx):
        return (s["images"][idx].permute(0, 3, 1, 2).float() - mean) / std, s["targets"][idx]

    def evaluate():
        enc.eval()
        hit, all3, none, n_obj, n_none = torch.zeros(3), 0, torch.zeros(3), 0, 0
        with torch.no_grad():
            for i in range(0, 2000, 500):
                im, tg = prep(d["test"], torch.arange(i, i + 500))
                tokens = enc(im)
                ok = torch.stack([h(tokens).argmax(-1) == tg[:, k] for k, h in enumerate(heads)])  # (3, B, 64)
                obj = tg[:, 0] != len(LABELS["color"])
                hit += ok[:, obj].float().sum(1)
                all3 += ok.all(0)[obj].sum().item()
                none += ok[:, ~obj].float().sum(1)
                n_obj, n_none = n_obj + obj.sum().item(), n_none + (~obj).sum().item()
        enc.train()
        r = {name: 100 * hit[k].item() / n_obj for k, name in enumerate(LABELS)}
        return {**r, "all3": 100 * all3 / n_obj, "none": 100 * none.mean().item() / n_none}

    n, steps, t0, curve = d["train"]["images"].shape[0], a.samples // a.bs, time.time(), []
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = a.lr * min(1, (step + 1) / 100)
        im, tg = prep(d["train"], torch.arange(step * a.bs, (step + 1) * a.bs) % n)
        tokens = enc(im)
        loss = sum(F.cross_entropy(h(tokens).flatten(0, 1), tg[:, k].flatten()) for k, h in enumerate(heads))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        seen = (step + 1) * a.bs
        if seen % a.eval_every < a.bs or step == steps - 1:
            r = evaluate()
            curve.append((seen, time.time() - t0, r))
            print(seen, f"loss {loss.item():.3f}", {k: round(v, 1) for k, v in r.items()}, f"{time.time() - t0:.0f}s", flush=True)
    if a.save:
        torch.save({"enc": enc.state_dict(), "heads": heads.state_dict()}, a.save)
        json.dump({"args": vars(a), "curve": curve}, open(a.save + ".json", "w"))


def into(weights: str, run: str) -> None:
    """Write the trained image encoder and grounding heads into the step-0 checkpoint of ``run``."""
    from jarvl.models.weights import load_model, read_config, save_model
    from jarvl.checkpoint_layout import checkpoint_path

    ckpt = checkpoint_path(run)
    model = load_model(ckpt)
    v = torch.load(weights, weights_only=True)
    model.image_encoder.load_state_dict(v["enc"])
    for k, name in enumerate(LABELS):
        model.grounding[name].load_state_dict({p: v["heads"][f"{k}.{p}"] for p in ("weight", "bias")})
    _, meta = read_config(ckpt)
    save_model(model, ckpt, extra={k: x for k, x in meta.items() if k not in ("format_version", "sha256", "config_sha256", "model")})
    print(f"wrote the vision tower of {weights} into {ckpt}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("n", type=int)
    c.add_argument("out")
    t = sub.add_parser("train")
    t.add_argument("data")
    t.add_argument("--lr", type=float, default=3e-4)
    t.add_argument("--samples", type=int, default=40000)
    t.add_argument("--bs", type=int, default=64)
    t.add_argument("--eval_every", type=int, default=4000)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--save", default="")
    i = sub.add_parser("into")
    i.add_argument("weights")
    i.add_argument("run")
    a = p.parse_args()
    cache(a.n, a.out) if a.cmd == "cache" else train(a) if a.cmd == "train" else into(a.weights, a.run)
