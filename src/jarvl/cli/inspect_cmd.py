"""``jarvl inspect``: where a trained model looks, as attention maps drawn on test images."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from jarvl.cli.arguments import device_name, int_in


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``inspect`` subcommand."""
    p = sub.add_parser(
        "inspect",
        help="draw a run's attention maps on test images",
        description=(
            "Answer questions about a few images with a trained run and draw, per image, the fusion's attention over the "
            "image-token grid: JAR's image resampler tokens (PAPER.md Eq. 2) when it has one, else the fused tokens of an "
            "iteration over the image tokens (fusion.image_context=tokens; one map per question word when the iterations run "
            "on the text tokens). Writes attention_maps.png, .json (per-map normalised entropy, 1 = uniform; how alike the "
            "maps of one image are) and .md into --out. Images: the run's own synthetic scenes (--split), or --spec."
        ),
    )
    p.add_argument("checkpoint", help="run directory (its best checkpoint, else the last), checkpoint folder, or `jarvl demo` folder")
    p.add_argument("--split", default="test", help="split of the run's synthetic VQA scenes: test, val or comp (default test)")
    p.add_argument("--spec", help="dataset spec to draw the images from instead (e.g. 'synthetic:vqa:test?n=8&max_objects=2')")
    p.add_argument("--images", type=int_in(1, 64), default=4, help="images, one row each (default 4)")
    p.add_argument("--start", type=int_in(0), default=0, help="index of the first record (default 0)")
    p.add_argument("--maps", type=int_in(1, 64), default=12, help="maps drawn per image, the first ones (default 12)")
    p.add_argument(
        "--layer", help="which attention: attn/image_resampler, attn/fuse0, ... (default: the resampler, else the last iteration)"
    )
    p.add_argument("--out", type=Path, default=Path("runs/inspect"), help="output folder (default runs/inspect)")
    p.add_argument("--device", type=device_name, default="cpu")
    p.set_defaults(func=run)


def resolve(path: Path) -> Path:
    """The checkpoint folder of a run dir, a checkpoint folder, or a demo folder holding ``jar/``."""
    from jarvl.checkpoint_layout import checkpoint_path

    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return checkpoint_path(path)
    except FileNotFoundError:
        if (path / "jar").is_dir():  # `jarvl demo --out X` puts JAR's run in X/jar
            return checkpoint_path(path / "jar")
        raise


def scene_spec(ckpt: Path, split: str, n: int, image_size: int) -> str:
    """``synthetic:vqa:SPLIT?n=N&...`` with the scene options of the run's first synthetic VQA dataset
    (from the checkpoint's ``state.json``); without one, the default scenes at the model's image size."""
    from jarvl.data.registry import DatasetSpec

    state = ckpt / "state.json"
    cfg = json.loads(state.read_text()).get("config", {}) if state.is_file() else {}
    data = cfg.get("data", {})
    options = {"image_size": str(image_size)}
    for spec in [*(data.get("val") or []), *(data.get("train") or []), *(data.get("mixture") or {}).values()]:
        if spec.startswith("synthetic:vqa"):
            options = DatasetSpec.parse(spec).without_options("n", "seed").options
            break
    return str(DatasetSpec("synthetic", "vqa", split, {"n": str(n), **options}))


def map_stats(maps: list[list[float]]) -> dict:
    """For one image's maps (rows over M cells, each summing to 1): the normalised entropy H / ln M of each
    (1 = uniform), and the mean cosine similarity of two different maps (1 = all look at the same places)."""
    import numpy as np

    flat = np.asarray(maps, dtype=np.float64)
    m = flat.shape[-1]
    entropy = -(flat * np.log(np.clip(flat, 1e-12, None))).sum(-1) / math.log(m)
    unit = flat / np.clip(np.linalg.norm(flat, axis=-1, keepdims=True), 1e-12, None)
    sims = unit @ unit.T
    n = len(flat)
    similarity = float(sims[~np.eye(n, dtype=bool)].mean()) if n > 1 else 1.0
    return {"entropy": entropy.round(4).tolist(), "mean_entropy": float(entropy.mean()), "similarity": similarity}


def run(args: argparse.Namespace) -> int:
    """Answer, take the maps, draw and write them."""
    from jarvl.cli.plots import plot_attention
    from jarvl.data.registry import open_dataset
    from jarvl.inference import Predictor
    from jarvl.serve.attention import image_maps

    ckpt = resolve(Path(args.checkpoint))
    predictor = Predictor(ckpt, device=args.device)
    cfg = predictor.model.cfg
    spec = args.spec or scene_spec(ckpt, args.split, args.start + args.images, cfg.vision.image_size)
    data = open_dataset(spec)
    if args.start >= len(data):
        raise ValueError(f"--start {args.start}: {spec} has {len(data)} records")
    rows, chosen = [], None
    for i in range(args.start, min(len(data), args.start + args.images)):
        sample = data[i]
        answer = predictor.ask(sample.image, [sample.prompt], attention=True)
        found = image_maps(answer.attention, answer.mask, cfg.vision.num_tokens, cfg.fusion.name)
        layers = {layer["key"]: layer for layer in found["layers"]}
        if not layers:
            raise ValueError(f"{ckpt}: the {cfg.fusion.name} fusion gives no attention maps over the image ({'; '.join(found['notes'])})")
        key = args.layer or ("attn/image_resampler" if "attn/image_resampler" in layers else list(layers)[-1])
        if key not in layers:
            raise ValueError(f"--layer {key}: this model gives {', '.join(layers)}")
        chosen = layers[key]
        maps = chosen["maps"][0] if chosen["per_question"] else chosen["maps"]
        ids = predictor.collate.prompts([sample.prompt])[0][0]
        words = [predictor.tokenizer.decode([int(t)]) or f"#{int(t)}" for t in ids if int(t) != predictor.tokenizer.pad_id]
        by_word = chosen["per_question"] and cfg.fusion.text_context == "tokens" and len(words) == len(maps)
        labels = words if by_word else [f"token {k}" for k in range(len(maps))]
        rows.append({"prompt": sample.prompt, "target": sample.target, "prediction": answer.texts[0], "family": sample.family,
                     "image": sample.image, "maps": maps, "labels": labels, **map_stats(maps)})  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    title = f"{chosen['title']}: {ckpt} ({cfg.fusion.name}, {cfg.vision.num_tokens} image tokens)"
    png = plot_attention(rows, args.out / "attention_maps.png", grid=found["grid"], max_maps=args.maps, title=title)
    records = [{k: v for k, v in r.items() if k not in ("image", "maps")} for r in rows]
    payload = {"checkpoint": str(ckpt), "spec": spec, "layer": key, "title": chosen["title"], "fusion": cfg.fusion.name,
               "notes": found["notes"], "records": records, "plot": png.name}  # fmt: skip
    (args.out / "attention_maps.json").write_text(json.dumps(payload, indent=1) + "\n")
    right = sum(r["prediction"].strip() == r["target"].strip() for r in rows)
    mean_h = sum(r["mean_entropy"] for r in rows) / len(rows)
    mean_s = sum(r["similarity"] for r in rows) / len(rows)
    md = [f"# Attention maps: {chosen['title']}\n", f"Checkpoint `{ckpt}` ({cfg.fusion.name}); images from `{spec}`; "
          f"written by `jarvl inspect {args.checkpoint}`.\n", *(f"- {n}" for n in found["notes"]),
          f"- Mean normalised entropy of a map: **{mean_h:.3f}** (1.0 = uniform over the {cfg.vision.num_tokens} image tokens).",
          f"- Mean cosine similarity of two maps of one image: **{mean_s:.3f}** (1.0 = all look at the same places).",
          f"- Answers right: {right} of {len(rows)}.\n", f"![attention maps]({png.name})\n"]  # fmt: skip
    (args.out / "attention_maps.md").write_text("\n".join(md))
    print(
        f"wrote {png}, attention_maps.json and .md ({key}: mean entropy {mean_h:.3f}, map similarity {mean_s:.3f}, {right}/{len(rows)} right)"
    )
    return 0
