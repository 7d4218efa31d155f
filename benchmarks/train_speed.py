"""Training speed and data-pipeline throughput of the tiny preset on this machine.

Measures, in one run: (1) the data pipeline alone (DataLoader + synthetic generation + collate,
``--workers`` workers), (2) training steps on pre-collated batches (the model alone), (3) the
real trainer end to end, for each ``--fusion``; (2) also runs on one thread, which shows how
much of a fusion's FLOP saving survives when its smaller matrices must be split across threads. Targets from the project's issues: JAR tiny
>= 200 training samples/s on 2 cores, and the pipeline >= 3x what training consumes.

    python -m benchmarks.train_speed [--fusion jar,concat] [--steps 60] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from benchmarks.common import write_results  # noqa: E402
from jarvl.data.loader import ResumableBatchSampler, make_loader  # noqa: E402
from jarvl.train.config import build_experiment  # noqa: E402
from jarvl.train.logger import read_metrics  # noqa: E402
from jarvl.train.optim import make_optimizer  # noqa: E402
from jarvl.train.trainer import Trainer  # noqa: E402


def pipeline_rate(trainer: Trainer, batches: int, workers: int) -> float:
    """Samples/s the loader delivers with nothing else running."""
    cfg = trainer.cfg
    sampler = ResumableBatchSampler(len(trainer.train_data), cfg.data.batch_size, 0, steps=batches + 2)
    loader = iter(make_loader(trainer.train_data, sampler, trainer.collate, workers))
    next(loader), next(loader)  # worker start-up
    start = time.perf_counter()
    n = sum(len(next(loader)) for _ in range(batches))
    return n / (time.perf_counter() - start)


def model_rate(trainer: Trainer, steps: int, threads: int | None = None) -> float:
    """Samples/s of forward + backward + AdamW on batches already in memory (on ``threads`` torch threads, default as set)."""
    if threads is not None:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return model_rate(trainer, steps)
        finally:
            torch.set_num_threads(before)
    cfg = trainer.cfg
    sampler = ResumableBatchSampler(len(trainer.train_data), cfg.data.batch_size, 0, steps=4)
    batches = list(make_loader(trainer.train_data, sampler, trainer.collate, 0))
    model, opt = trainer.model, make_optimizer(trainer.model, cfg.optim)
    model.train()

    def step(b):
        model(b.images, b.text_ids, b.text_mask, b.targets).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for b in batches[:2]:
        step(b)
    start = time.perf_counter()
    for i in range(steps):
        step(batches[i % len(batches)])
    return steps * cfg.data.batch_size / (time.perf_counter() - start)


def trainer_rate(cfg, steps: int, skip: float = 0.25) -> float:
    """Samples/s of the real training loop (loader, step, logging); the first ``skip`` of the log rows
    (warm-up, and compilation with run.compile) excluded."""
    tmp = Path(tempfile.mkdtemp())
    cfg.run.max_steps, cfg.run.log_every, cfg.run.progress = steps, max(1, steps // 12), False
    cfg.run.eval_every = cfg.run.checkpoint_every = 0
    cfg.data.val = []
    try:
        Trainer(cfg, tmp).fit()
        rows = read_metrics(tmp, "train")
        rows = rows[int(len(rows) * skip) :]  # the first steps pay for loader start-up and allocator warm-up
        return sum(r["samples_per_s"] for r in rows) / len(rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fusion", default="jar,concat")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument(
        "--compile",
        action="store_true",
        help="also the trainer with run.compile=true (3x the steps, the first "
        "two thirds, where torch.compile compiles and recompiles for new prompt lengths, not timed)",
    )
    ap.add_argument("--quick", action="store_true", help="a few steps only (for the test that keeps this script alive)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    steps = 6 if args.quick else args.steps
    if args.quick:  # keeps the script alive in the test suite: small batches, no timing worth reading
        args.batch_size = 8
    rows = []
    for fusion in args.fusion.split(","):
        overrides = [
            f"model.fusion.name={fusion}",
            f"data.batch_size={args.batch_size}",
            f"data.num_workers={args.workers}",
            "data.train=synthetic:vqa:train?n=100000",
            "data.val=",
            "run.progress=false",
        ]
        if args.quick:  # the test only keeps the script alive: a small tokenizer sample, the same steps
            overrides.append("data.tokenizer_samples=500")
        cfg = build_experiment({}, overrides)
        trainer = Trainer(cfg, Path(tempfile.mkdtemp()))
        row = {
            "fusion": fusion,
            "batch": args.batch_size,
            "threads": torch.get_num_threads(),
            "pipeline_samples_per_s": pipeline_rate(trainer, max(4, steps // 2), args.workers),
            "model_samples_per_s": model_rate(trainer, steps),
            "model_samples_per_s_1_thread": model_rate(trainer, steps, threads=1),
            "trainer_samples_per_s": trainer_rate(build_experiment({}, overrides), steps),
        }
        if args.compile:
            row["trainer_samples_per_s_compiled"] = trainer_rate(
                build_experiment({}, overrides + ["run.compile=true"]), 3 * steps, skip=2 / 3
            )
        row["pipeline_over_training"] = row["pipeline_samples_per_s"] / row["trainer_samples_per_s"]
        rows.append(row)
        print(row, flush=True)
    base = {r["fusion"]: r for r in rows}
    threads = rows[0]["threads"] if rows else "?"
    comp = args.compile
    lines = [
        f"| fusion | data pipeline samples/s | model step samples/s, 1 thread | model step samples/s, {threads} threads "
        "| trainer samples/s |" + (" trainer samples/s, torch.compile |" if comp else "") + " pipeline / trainer |",
        "|---|---|---|---|---|" + ("---|" if comp else "") + "---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['fusion']} | {r['pipeline_samples_per_s']:.0f} | {r['model_samples_per_s_1_thread']:.0f} | "
            f"{r['model_samples_per_s']:.0f} | {r['trainer_samples_per_s']:.0f} |"
            + (f" {r['trainer_samples_per_s_compiled']:.0f} |" if comp else "")
            + f" {r['pipeline_over_training']:.1f}x |"
        )
    if "jar" in base and "concat" in base:
        j, c = base["jar"], base["concat"]
        lines.append(
            f"\njar / concat samples/s: model step on 1 thread {j['model_samples_per_s_1_thread'] / c['model_samples_per_s_1_thread']:.2f}x, "
            f"on {threads} threads {j['model_samples_per_s'] / c['model_samples_per_s']:.2f}x, "
            f"trainer end to end {j['trainer_samples_per_s'] / c['trainer_samples_per_s']:.2f}x"
            + (f", trainer compiled {j['trainer_samples_per_s_compiled'] / c['trainer_samples_per_s_compiled']:.2f}x" if comp else "")
        )
    md = (
        f"# Training speed, tiny preset (batch {args.batch_size}, {args.workers} data worker(s))\n\n"
        + "\n".join(lines)
        + "\n\nThe data pipeline is measured alone (loader + synthetic drawing + tokenising + collate); the model step on "
        "batches already in memory; the trainer end to end with its loader. Measured with nothing else running.\n"
    )
    write_results(args.out, "train_speed" + ("_quick" if args.quick else ""), {"rows": rows}, md)


if __name__ == "__main__":
    main()
