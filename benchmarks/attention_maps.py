"""Where the image resampler looks: its attention maps on a few synthetic test images.

For a trained run (``jarvl train`` or ``jarvl demo``), draws one row per test image: the image
with its question, the model's answer and the truth, then each learned token's attention over the
image-token grid (PAPER.md Eq. 2: the N queries X_N attend to the M image tokens), upsampled
bilinearly onto the image. Each map is scaled to its own maximum, so a uniform map shows as a flat
wash; its normalised entropy H / ln M (1.0 = uniform) is printed under it.

The test images come from the synthetic split ``--split`` drawn with the run's own scene options
(its first synthetic VQA dataset), unless ``--spec`` names another dataset. Writes
``attention_maps.png`` and ``attention_maps.json`` / ``.md`` (per-map entropy and how alike the
N maps are: collapsed tokens all attend to the same places) into ``--out``.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/attention_maps.py --checkpoint runs/demo/jar   # seconds
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/attention_maps.py --checkpoint RUN --quick --out /tmp/att

``--quick`` trains nothing either: it draws 2 images and 8 maps (the test makes its run with
``jarvl train --max-steps 3``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import write_results  # noqa: E402

from jarvl.data.registry import DatasetSpec  # noqa: E402

ROOT = Path(__file__).resolve().parent
KEY = "attn/image_resampler"


def resolve_run(path: Path, which: str = "last") -> Path:
    """The checkpoint folder of ``path``: a run dir (its ``which`` checkpoint: last or best), a
    checkpoint folder, or a demo folder holding ``jar/``."""
    from jarvl.checkpoint_layout import checkpoint_path

    try:
        return checkpoint_path(path, which)
    except FileNotFoundError:
        if (path / "jar").is_dir():  # `jarvl demo --out X` puts JAR's run in X/jar
            return checkpoint_path(path / "jar", which)
        raise


def scene_spec(ckpt: Path, split: str, n: int, image_size: int) -> str:
    """``synthetic:vqa:SPLIT?n=N&...`` with the scene options of the run's first synthetic VQA dataset.

    The experiment config is read from the checkpoint's ``state.json`` (or the run's ``config.json``);
    without a synthetic VQA dataset there, the default scenes at the model's image size.
    """
    cfg = None
    for path in (ckpt / "state.json", ckpt.parent.parent / "config.json"):
        if path.is_file():
            data = json.loads(path.read_text())
            cfg = data.get("config", data) if path.name == "state.json" else data
            if cfg:
                break
    data_cfg = (cfg or {}).get("data", {})
    specs = list(data_cfg.get("val") or []) + list(data_cfg.get("train") or []) + list((data_cfg.get("mixture") or {}).values())
    options = {"image_size": str(image_size)}
    for spec in specs:
        if spec.startswith("synthetic:vqa"):
            options = DatasetSpec.parse(spec).without_options("n", "seed").options
            break
    return str(DatasetSpec("synthetic", "vqa", split, {"n": str(n), **options}))


def attention(predictor, samples: list, key: str = KEY) -> tuple[list[str], np.ndarray]:
    """Answers and attention maps float[B, N, g, g] of ``key`` over the g x g image-token grid.

    Keys over a joint [image; text] sequence (``attn/cross0`` of perceiver) keep the image columns
    (the first M), renormalised.
    """
    model = predictor.model
    batch = predictor.collate(samples).to(predictor.device)
    answers = predictor.predict_batch(batch)
    model.fusion.return_attn = True
    try:
        with torch.no_grad():
            diag = model.encode(batch.images, batch.text_ids, batch.text_mask).diagnostics
    finally:
        model.fusion.return_attn = False
    if key not in diag:
        found = [k for k in diag if k.startswith("attn/")]
        raise SystemExit(f"fusion '{model.cfg.fusion.name}' gives no '{key}' attention; it gives: {', '.join(found) or 'none'}")
    m = model.cfg.vision.num_tokens
    attn = diag[key].float()  # (B, N, S)
    if attn.shape[-1] < m:
        raise SystemExit(f"'{key}' attends over {attn.shape[-1]} positions, fewer than the {m} image tokens")
    attn = attn[..., :m]
    attn = attn / attn.sum(-1, keepdim=True).clamp_min(1e-12)
    g = int(math.isqrt(m))
    return answers, attn.reshape(*attn.shape[:2], g, g).cpu().numpy()


def map_stats(maps: np.ndarray) -> dict:
    """Per-map normalised entropy H / ln M (1 = uniform), peak x M, and the mean cosine similarity
    between different tokens' maps of one image (1 = all tokens look at the same places).

    ``maps`` float[B, N, g, g], each map summing to 1.
    """
    b, n = maps.shape[:2]
    flat = maps.reshape(b, n, -1).astype(np.float64)
    m = flat.shape[-1]
    entropy = -(flat * np.log(np.clip(flat, 1e-12, None))).sum(-1) / math.log(m)
    unit = flat / np.linalg.norm(flat, axis=-1, keepdims=True)
    sims = unit @ unit.transpose(0, 2, 1)  # (B, N, N)
    off = ~np.eye(n, dtype=bool)
    return {
        "entropy": entropy.round(4).tolist(), "peak_over_uniform": (flat.max(-1) * m).round(3).tolist(),
        "mean_entropy": float(entropy.mean()), "mean_peak_over_uniform": float((flat.max(-1) * m).mean()),
        "mean_token_similarity": float(sims[:, off].mean()) if n > 1 else 1.0,
    }  # fmt: skip


def plot_grid(samples: list, answers: list[str], maps: np.ndarray, entropy: list, path: Path, max_maps: int, title: str) -> Path:
    """One row per image: the image titled with question / answer / truth, then ``max_maps`` token maps on it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b, n = maps.shape[:2]
    shown = min(n, max_maps)
    cell = 1.25
    fig, axes = plt.subplots(
        b, shown + 1, figsize=(2.6 + cell * shown, 2.1 * b), dpi=110, squeeze=False,
        gridspec_kw={"width_ratios": [2.0] + [1.0] * shown},
    )  # fmt: skip
    for i, (sample, answer) in enumerate(zip(samples, answers)):
        image = sample.image
        h, w = image.shape[:2]
        ax = axes[i][0]
        ax.imshow(image, interpolation="nearest")
        ok = answer.strip() == sample.target.strip()
        ax.set_title(textwrap.fill(sample.prompt, 30) + f"\nmodel: {answer}  truth: {sample.target}",
                     fontsize=7, color="green" if ok else "red")  # fmt: skip
        for k in range(shown):
            ax = axes[i][k + 1]
            ax.imshow(image, interpolation="nearest")
            ax.imshow(maps[i, k], cmap="inferno", alpha=0.65, interpolation="bilinear", extent=(0, w, h, 0),
                      vmin=0, vmax=maps[i, k].max())  # fmt: skip
            ax.set_xlim(0, w)
            ax.set_ylim(h, 0)
            ax.set_xlabel(f"H {entropy[i][k]:.2f}", fontsize=6, labelpad=1)
            if i == 0:
                ax.set_title(f"token {k}", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    """Draw the maps of ``--checkpoint`` and write the PNG and its summary; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--checkpoint",
        type=Path,
        default=Path("runs/demo/jar"),
        help="run dir, checkpoint folder, or `jarvl demo` folder (default runs/demo/jar)",
    )
    ap.add_argument("--which", choices=["last", "best"], default="last",
                    help="a run dir's last checkpoint (what training ended with) or the one validation picked (default last)")  # fmt: skip
    ap.add_argument("--images", type=int, default=4, help="test images, one row each (default 4)")
    ap.add_argument("--maps", type=int, default=16, help="token maps drawn per image, the first ones (default 16)")
    ap.add_argument("--split", default="test", help="synthetic split the images come from: test, val or comp (default test)")
    ap.add_argument("--spec", help="dataset spec to draw the images from instead (e.g. 'synthetic:vqa:test?n=8&max_objects=2')")
    ap.add_argument("--key", default=KEY, help=f"which diagnostics attention to draw (default {KEY})")
    ap.add_argument("--start", type=int, default=0, help="index of the first record drawn (default 0)")
    ap.add_argument("--out", type=Path, default=ROOT / "results", help="output folder (default benchmarks/results)")
    ap.add_argument("--quick", action="store_true", help="2 images, 8 maps (for the test; nothing is trained)")
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.maps = 2, 8

    from jarvl.data.registry import open_dataset
    from jarvl.inference import Predictor

    ckpt = resolve_run(args.checkpoint, args.which)
    predictor = Predictor(ckpt)
    cfg = predictor.model.cfg
    spec = args.spec or scene_spec(ckpt, args.split, args.start + args.images, cfg.vision.image_size)
    data = open_dataset(spec)
    samples = [data[i] for i in range(args.start, min(len(data), args.start + args.images))]
    answers, maps = attention(predictor, samples, args.key)
    stats = map_stats(maps)
    title = (f"{args.key} of {ckpt}: {cfg.fusion.name}, {cfg.fusion.resampling} resampling, N = {maps.shape[1]} tokens "
             f"over {cfg.vision.num_tokens} image tokens ({cfg.vision.image_size}px / {cfg.vision.patch_size})")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    png = plot_grid(samples, answers, maps, stats["entropy"], args.out / "attention_maps.png", args.maps, title)
    records = [{"prompt": s.prompt, "target": s.target, "prediction": a, "family": s.family} for s, a in zip(samples, answers)]
    payload = {"checkpoint": str(ckpt), "spec": spec, "key": args.key, "fusion": cfg.fusion.name, "num_tokens": int(maps.shape[1]),
               "image_tokens": cfg.vision.num_tokens, "records": records, "stats": stats, "plot": png.name}  # fmt: skip
    md = (
        f"# Attention maps of `{args.key}`\n\n"
        f"Checkpoint `{ckpt}` ({cfg.fusion.name}, {cfg.vision.image_size}px, {cfg.vision.num_tokens} image tokens, "
        f"N = {maps.shape[1]}); images from `{spec}`.\n\n"
        f"- Mean normalised entropy of a token's map: **{stats['mean_entropy']:.3f}** (1.0 = uniform over the "
        f"{cfg.vision.num_tokens} image tokens).\n"
        f"- Mean peak weight: {stats['mean_peak_over_uniform']:.2f}x uniform.\n"
        f"- Mean cosine similarity between two tokens' maps of one image: **{stats['mean_token_similarity']:.3f}** "
        "(1.0 = every token looks at the same places).\n"
        f"- Answers right: {sum(r['prediction'].strip() == r['target'].strip() for r in records)} of {len(records)}.\n\n"
        f"![attention maps]({png.name})\n"
    )
    write_results(args.out, "attention_maps", payload, md)
    print(f"wrote {png} (mean entropy {stats['mean_entropy']:.3f}, token similarity {stats['mean_token_similarity']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
