"""Linear probes on a trained run: is the answer (and what it needs) linearly readable at each stage?

The diagnostic behind the "learn to see" issue: a run that answers at the language prior may still
hold the question's words and the objects' attributes in its tokens, only not the answer, meaning the
comparison was never computed. For each stage (image tokens, text tokens, fused tokens; mean over
tokens, the padding left out) a multinomial logistic regression is fitted on ``--fit`` questions and
scored on ``--held-out`` others, for these targets:

- ``answer``: the target text (every dataset);
- on synthetic data also ``question_<slot>``: the colour / shape / size word the question names
  ("none" when it names none), and ``scene_<slot>``: that attribute of the scene's left-most object.

Chance is the held-out share of the most common training class.

With ``fusion.match_where`` on, also the **where probe**: for every question word inside a phrase that
names objects (``meta["phrases"]``), the position the first gated cross-attention reads out for it
(the attention-weighted mean (x, y) of the image tokens, per head) against its objects' cells, as
Pearson r per head and axis: whether each referent's position is in its own words' tokens (the
two-object spatial diagnosis, ``results/notes/spatial_two_objects.md``).

    python -m benchmarks.probes --checkpoint runs/demo [--data "synthetic:vqa:test?n=6000"] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from benchmarks.common import write_results  # noqa: E402
from jarvl.blocks.layers import grid_positions  # noqa: E402
from jarvl.data.registry import open_dataset  # noqa: E402
from jarvl.data.synthetic.config import COLORS, SHAPES, SIZES  # noqa: E402
from jarvl.inference import Predictor, make_collator  # noqa: E402

SLOTS = {"color": tuple(COLORS), "shape": SHAPES, "size": SIZES}
STAGES = ("image", "text", "fused")


def labels_of(ds, i: int, sample) -> dict[str, str]:
    """The probe targets of record ``i``: the answer, and on synthetic data the question's and scene's attributes."""
    out = {"answer": sample.target}
    item = getattr(ds, "item", None)
    if item is None:
        return out
    words = sample.prompt.rstrip("?.").split()
    first = min(item(i).scene.objects, key=lambda o: (o.x, o.y))
    for slot, values in SLOTS.items():
        named = [w.rstrip("s") for w in words if w.rstrip("s") in values]
        out[f"question_{slot}"] = named[0] if named else "none"
        out[f"scene_{slot}"] = getattr(first, slot)
    return out


@torch.no_grad()
def features(pred: Predictor, ds, n: int, batch: int = 100) -> tuple[dict[str, torch.Tensor], list[dict[str, str]]]:
    """Mean-pooled features float[n, D] per stage, and the labels of the n records."""
    model, feats, labels = pred.model, {s: [] for s in STAGES}, []
    for start in range(0, n, batch):
        samples = [ds[i] for i in range(start, min(n, start + batch))]
        labels += [labels_of(ds, start + k, s) for k, s in enumerate(samples)]
        b = pred.collate(samples).to(pred.device)
        image = model.image_proj(model.image_encoder(b.images))  # (B, M, D)
        text = model.text_proj(model.text_encoder(b.text_ids, b.text_mask))  # (B, L, D)
        fused = model.fusion(image, text, b.text_mask)
        m = b.text_mask.unsqueeze(-1).float()
        fm = fused.mask.unsqueeze(-1).float()
        feats["image"].append(image.mean(1))
        feats["text"].append((text * m).sum(1) / m.sum(1))
        feats["fused"].append((fused.tokens * fm).sum(1) / fm.sum(1))
    return {s: torch.cat(v).float().cpu() for s, v in feats.items()}, labels


def probe(x: torch.Tensor, y: list[str], fit: int, steps: int = 300) -> tuple[float, float]:
    """Held-out accuracy of a logistic regression fitted on the first ``fit`` rows, and the chance level."""
    classes = sorted(set(y))
    index = {c: k for k, c in enumerate(classes)}
    t = torch.tensor([index[c] for c in y])
    mu, sd = x[:fit].mean(0), x[:fit].std(0) + 1e-6
    z = (x - mu) / sd
    w = torch.zeros(x.shape[1], len(classes), requires_grad=True)
    b = torch.zeros(len(classes), requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z[:fit] @ w + b, t[:fit]) + 1e-3 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        acc = ((z[fit:] @ w + b).argmax(1) == t[fit:]).float().mean().item()
    top = Counter(y[:fit]).most_common(1)[0][0]
    chance = sum(c == top for c in y[fit:]) / max(1, len(y) - fit)
    return acc, chance


def where_correlations(reads: torch.Tensor, phrases: torch.Tensor, heads: int) -> dict[str, list[float]]:
    """Pearson r per head of each phrase word's read-out position with its objects' mean cell position.

    reads float[B, L, heads x k] (the input of the first gated cross-attention's ``score`` map; its last
    2 x heads channels are the x then y read-outs), phrases float[B, L, M] (``Batch.phrases``: 1 = the
    word's phrase names the cell's object) -> {"x": [r per head], "y": [...]}.
    """
    pos = grid_positions(phrases.shape[-1])  # (M, 2)
    hit = phrases.clamp_min(0)
    named = hit.sum(-1) > 0  # (B, L): words with a referent
    target = (hit @ pos) / hit.sum(-1, keepdim=True).clamp_min(1)  # (B, L, 2)
    out = {}
    for axis, name in enumerate("xy"):
        start = reads.shape[-1] - (2 - axis) * heads
        got, want = reads[..., start : start + heads][named], target[..., axis][named]  # (K, h), (K,)
        out[name] = [float(torch.corrcoef(torch.stack([got[:, h], want]))[0, 1]) for h in range(heads)]
    return out


def where_probe(pred: Predictor, ds, n: int, batch: int = 100) -> dict[str, list[float]] | None:
    """``where_correlations`` over the first ``n`` records of ``ds``; None without ``fusion.match_where``
    or when no record names objects."""
    model = pred.model
    if not model.cfg.fusion.match_where:
        return None
    cfg = copy.deepcopy(model.cfg)
    cfg.referring.phrases = 1.0  # the phrase targets, whatever the run trained with
    collate = make_collator(cfg, pred.tokenizer)
    block = model.fusion.fuse[0]
    seen: list[torch.Tensor] = []
    hook = block.score.register_forward_hook(lambda mod, args, out: seen.append(args[0].detach()))
    reads, phrases = [], []
    try:
        for start in range(0, n, batch):
            b = collate([ds[i] for i in range(start, min(n, start + batch))]).to(pred.device)
            if b.phrases is None:  # every record of the batch skipped
                continue
            seen.clear()
            with torch.no_grad():
                model.encode(b.images, b.text_ids, b.text_mask)  # the fusion alone: the hook reads fuse[0]
            reads.append(seen[0].float().cpu())
            phrases.append(b.phrases.float().cpu())
    finally:
        hook.remove()
    if not any((p == 1).any() for p in phrases):
        return None  # the data names no objects (no meta["phrases"])
    width = max(p.shape[1] for p in phrases)  # batches differ in text length: pad to the longest
    reads = torch.cat([torch.nn.functional.pad(r, (0, 0, 0, width - r.shape[1])) for r in reads])
    phrases = torch.cat([torch.nn.functional.pad(p, (0, 0, 0, width - p.shape[1]), value=-1.0) for p in phrases])
    return where_correlations(reads, phrases, block.attn.heads)


def main() -> None:
    """Parse the flags, fit every probe, write probes_<name>.md and .json."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="a run directory or checkpoint folder")
    p.add_argument("--data", default="synthetic:vqa:test?n=6000", help="dataset spec (fit on the first --fit records)")
    p.add_argument("--fit", type=int, default=4000)
    p.add_argument("--held-out", type=int, default=2000)
    p.add_argument("--name", default="", help="results name (default: the run directory's name)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--quick", action="store_true", help="200 + 100 records (a smoke run)")
    a = p.parse_args()
    if a.quick:
        a.fit, a.held_out = 200, 100
    torch.set_num_threads(max(1, torch.get_num_threads()))
    pred = Predictor(a.checkpoint)
    ds = open_dataset(a.data)
    n = a.fit + a.held_out
    if len(ds) < n:
        sys.exit(f"--data {a.data}: {len(ds)} records, --fit + --held-out need {n}")
    feats, labels = features(pred, ds, n)
    targets = list(labels[0])
    rows = []
    for target in targets:
        y = [lab[target] for lab in labels]
        for stage in STAGES:
            acc, chance = probe(feats[stage], y, a.fit)
            rows.append({"target": target, "stage": stage, "accuracy": acc, "chance": chance})
    name = a.name or Path(a.checkpoint).resolve().name
    table = ["| target | chance | " + " | ".join(STAGES) + " |", "|---|---|" + "---|" * len(STAGES)]
    for target in targets:
        got = {r["stage"]: r for r in rows if r["target"] == target}
        cells = " | ".join(f"{100 * got[s]['accuracy']:.1f}" for s in STAGES)
        table.append(f"| {target} | {100 * got[STAGES[0]]['chance']:.1f} | {cells} |")
    where = where_probe(pred, ds, n)
    if where is not None:
        table += ["", "Where probe (Pearson r per head, phrase words' read-out position against their objects' cells):", ""]
        table += ["| axis | " + " | ".join(f"head {h}" for h in range(len(where["x"]))) + " |", "|---|" + "---|" * len(where["x"])]
        table += [f"| {axis} | " + " | ".join(f"{r:.3f}" for r in where[axis]) + " |" for axis in "xy"]
    md = (
        f"# Linear probes: {name}\n\nCheckpoint `{a.checkpoint}`, data `{a.data}`: fitted on {a.fit}, scored on "
        f"{a.held_out} held-out records; mean over tokens at each stage. An answer near chance while the "
        "question's words and the scene's attributes read well means the comparison is not computed.\n\n" + "\n".join(table) + "\n"
    )
    write_results(
        a.out,
        f"probes_{name}",
        {"checkpoint": str(a.checkpoint), "data": a.data, "fit": a.fit, "held_out": a.held_out, "rows": rows, "where": where},
        md,
    )
    print(md)


if __name__ == "__main__":
    main()
