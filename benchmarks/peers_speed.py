"""Training speed of jar, concat and the peers in one run, against this machine's own matmul peak.

In one process: (1) the fp32 (and bf16) matmul peak of this machine at the run's threads;
(2) for each config (``paper``: the tiny preset as the paper defines the fusion; ``demo``: the demo
recipe's model, ``src/jarvl/configs/demo.yaml``) and each fusion, training samples/s end to end
through the real trainer (loader, step, logging), the rounds interleaved (every fusion once per
round) so a busy machine slows them alike; the training FLOPs per sample (forward + backward,
counted with ``torch.utils.flop_counter`` on a real batch), the achieved GFLOP/s and its fraction
of the peak; (3) the model step (forward, backward, AdamW) with 4 questions per image, each image
encoded once (``image_index``), as questions/s. The peers (``peer_fusions.py``) sit between the
same encoders and decoder, with the same batch, data and optimiser.

    python -m benchmarks.peers_speed [--fusion jar,concat,peer_flamingo,peer_perceiver,peer_vilt]
        [--configs paper,demo] [--steps 40] [--rounds 2] [--quick]

``run(...)`` returns the results as a dict (what ``main`` writes to ``results/peers_speed.{md,json}``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from benchmarks import peer_fusions  # noqa: E402  (registers the peers)
from benchmarks.provenance import cpu_name  # noqa: E402  (the suite's one CPU-name reader)
from jarvl.config import load_yaml  # noqa: E402
from jarvl.data.loader import ResumableBatchSampler, make_loader  # noqa: E402
from jarvl.profiling.flops import flop_counter  # noqa: E402
from jarvl.profiling.peak import matmul_peak  # noqa: E402
from jarvl.train.config import build_experiment  # noqa: E402
from jarvl.train.logger import read_metrics  # noqa: E402
from jarvl.train.optim import make_optimizer  # noqa: E402
from jarvl.train.trainer import Trainer  # noqa: E402

FUSIONS = ("jar", "concat", *peer_fusions.PEERS)
DEMO = Path(__file__).resolve().parents[1] / "src" / "jarvl" / "configs" / "demo.yaml"


def experiment(config: str, fusion: str, *, batch: int, steps: int, quick: bool):
    """The experiment config: ``paper`` (tiny preset) or ``demo`` (the demo recipe's model), ``fusion`` swapped in."""
    base = {}
    if config == "demo":
        base = {"model": load_yaml(DEMO)["model"]}
    overrides = [
        f"model.fusion.name={fusion}",
        f"data.batch_size={batch}",
        "data.num_workers=1",
        "data.train=synthetic:vqa:train?n=100000&min_objects=3&max_objects=6",
        "data.val=",
        "data.tokenizer_samples=" + ("500" if quick else "3000"),
        f"run.max_steps={steps}",
        f"run.log_every={max(1, steps // 8)}",
        "run.eval_every=0",
        "run.checkpoint_every=0",
        "run.max_minutes=0",
        "run.eval_every_minutes=0",
        "run.progress=false",
    ]
    return build_experiment(base, overrides)


def trainer_rate(cfg, skip: float = 0.25) -> float:
    """Samples/s of the real training loop; the first ``skip`` of the log rows (warm-up) left out."""
    tmp = Path(tempfile.mkdtemp())
    try:
        Trainer(cfg, tmp).fit()
        rows = read_metrics(tmp, "train")
        rows = rows[int(len(rows) * skip) :]
        return sum(r["samples_per_s"] for r in rows) / len(rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def model_and_batch(cfg):
    """The trainer's model (fresh) and one collated training batch of ``cfg``."""
    tmp = Path(tempfile.mkdtemp())
    try:
        trainer = Trainer(cfg, tmp)
        trainer.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sampler = ResumableBatchSampler(len(trainer.train_data), cfg.data.batch_size, 0, steps=1)
    return trainer.model, next(iter(make_loader(trainer.train_data, sampler, trainer.collate, 0)))


def train_flops_per_sample(model, batch) -> float:
    """Forward + backward FLOPs of one training step on ``batch``, per sample."""
    with flop_counter() as counter:
        out = model(batch.images, batch.text_ids, batch.text_mask, batch.targets, grid_targets=batch.grid_targets)
        out.loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(batch)


def shared_image_rate(model, batch, cfg, *, per_image: int, steps: int) -> float:
    """Questions/s of forward + backward + AdamW when ``per_image`` questions share each image
    (encoded once, ``image_index``), on batches already in memory."""
    opt = make_optimizer(model, cfg.optim)
    n = len(batch)
    index = torch.arange(n // per_image).repeat_interleave(per_image)
    images = batch.images[: n // per_image]
    grid = None if batch.grid_targets is None else batch.grid_targets[: n // per_image]

    def step():
        model(images, batch.text_ids, batch.text_mask, batch.targets, index, grid_targets=grid).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * n / (time.perf_counter() - start)


def bf16_peak(fp32: dict) -> dict | None:
    """The bf16 matmul peak where this CPU computes bf16 natively (AVX512-BF16 / AMX), else None:
    without it oneDNN emulates bf16 at a small fraction of the fp32 rate (1 GFLOP/s on AVX2 here)."""
    probe = matmul_peak(torch.bfloat16, sizes=(256,), repeats=1)
    if probe["gflop_per_s"] < 0.5 * fp32["gflop_per_s"]:
        return None
    return matmul_peak(torch.bfloat16)


def run(
    fusions: tuple[str, ...] = FUSIONS,
    configs: tuple[str, ...] = ("paper", "demo"),
    *,
    steps: int = 40,
    rounds: int = 2,
    batch: int = 64,
    per_image: int = 4,
    quick: bool = False,
) -> dict:
    """Measure everything in the module docstring; returns {"peak", "rows", "shared_image", "peak_after"}."""
    peak = matmul_peak(torch.float32)
    peak_bf16 = bf16_peak(peak)
    rows = {(c, f): {"config": c, "fusion": f, "rates": []} for c in configs for f in fusions}
    shared = []
    for (c, f), row in rows.items():
        cfg = experiment(c, f, batch=batch, steps=steps, quick=quick)
        model, b = model_and_batch(cfg)
        row["train_gflop_per_sample"] = train_flops_per_sample(model, b) / 1e9
        row["params"] = sum(p.numel() for p in model.parameters())
        one = shared_image_rate(model, b, cfg, per_image=1, steps=max(2, steps // 5))
        many = shared_image_rate(model, b, cfg, per_image=per_image, steps=max(2, steps // 5))
        shared.append({"config": c, "fusion": f, "questions_per_s_1": one, f"questions_per_s_{per_image}": many})
    for _ in range(rounds):  # interleaved: each round runs every config x fusion once
        for (c, f), row in rows.items():
            row["rates"].append(trainer_rate(experiment(c, f, batch=batch, steps=steps, quick=quick)))
    for row in rows.values():
        row["trainer_samples_per_s"] = max(row["rates"])  # the least disturbed round
        row["achieved_gflop_per_s"] = row["trainer_samples_per_s"] * row["train_gflop_per_sample"]
        row["fraction_of_peak"] = row["achieved_gflop_per_s"] / peak["gflop_per_s"]
    return {
        "peak": peak,
        "peak_bf16": peak_bf16,
        "rows": list(rows.values()),
        "shared_image": shared,
        "per_image": per_image,
        "peak_after": matmul_peak(torch.float32),
        "batch": batch,
        "steps": steps,
        "rounds": rounds,
    }


def markdown(res: dict) -> str:
    """The results page (without the header)."""
    p, k = res["peak"], res["per_image"]
    lines = [
        f"# Training speed of jar, concat and the peers (tiny width, batch {res['batch']}, {res['steps']} steps x {res['rounds']} interleaved rounds)\n",
        f"Matmul peak measured in this run: fp32 {p['gflop_per_s']:.0f} GFLOP/s ({p['size']}^2, {p['threads']} threads; "
        f"{res['peak_after']['gflop_per_s']:.0f} at the end); bf16: "
        + (f"{res['peak_bf16']['gflop_per_s']:.0f} GFLOP/s" if res["peak_bf16"] else "no native bf16 on this CPU (emulated, not used)")
        + ".\n",
        "| config | fusion | trainer samples/s | x concat | train GFLOP/sample | achieved GFLOP/s | of fp32 peak | rounds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by = {(r["config"], r["fusion"]): r for r in res["rows"]}
    for r in res["rows"]:
        base = by.get((r["config"], "concat"))
        ratio = f"{r['trainer_samples_per_s'] / base['trainer_samples_per_s']:.2f}x" if base else "-"
        lines.append(
            f"| {r['config']} | {r['fusion']} | {r['trainer_samples_per_s']:.0f} | {ratio} | {r['train_gflop_per_sample']:.3f} | "
            f"{r['achieved_gflop_per_s']:.1f} | {r['fraction_of_peak']:.0%} | {', '.join(f'{x:.0f}' for x in r['rates'])} |"
        )
    lines += [
        "",
        f"Model step (forward, backward, AdamW; batches in memory) with {k} questions per image, each image encoded once (`image_index`):",
        "",
        f"| config | fusion | questions/s, 1 per image | questions/s, {k} per image | x concat at {k} per image |",
        "|---|---|---|---|---|",
    ]
    sh = {(r["config"], r["fusion"]): r for r in res["shared_image"]}
    for r in res["shared_image"]:
        base = sh.get((r["config"], "concat"))
        ratio = f"{r[f'questions_per_s_{k}'] / base[f'questions_per_s_{k}']:.2f}x" if base else "-"
        lines.append(f"| {r['config']} | {r['fusion']} | {r['questions_per_s_1']:.0f} | {r[f'questions_per_s_{k}']:.0f} | {ratio} |")
    return "\n".join(lines) + "\n"


def machine() -> dict:
    """CPU, cores, torch, threads, load average: what a figure was measured on."""
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_average_at_start": os.getloadavg(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fusion", default=",".join(FUSIONS))
    ap.add_argument("--configs", default="paper,demo")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--note", default="", help="machine conditions to record (e.g. 'shared with another process')")
    ap.add_argument("--quick", action="store_true", help="a few steps, batch 8 (for the test that keeps this script alive)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    steps, batch = (4, 8) if args.quick else (args.steps, args.batch_size)
    meta = {
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "note": args.note,
    }
    res = run(
        tuple(args.fusion.split(",")),
        tuple(args.configs.split(",")),
        steps=steps,
        rounds=1 if args.quick else args.rounds,
        batch=batch,
        quick=args.quick,
    )
    m = meta["machine"]
    header = (
        f"Command: `{meta['command']}`  \nMachine: {m['cpu']}, {m['cores']} cores ({m['cpu_capability']}), torch {m['torch']} "
        f"({m['threads']} threads), load average at start {m['load_average_at_start'][0]:.2f}  \nDate: {meta['date']}"
        + (f"  \nConditions: {args.note}" if args.note else "")
        + "\n\n"
    )
    name = "peers_speed" + ("_quick" if args.quick else "")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps({**meta, **res}, indent=1))
    (args.out / f"{name}.md").write_text(header + markdown(res))
    print(header + markdown(res))


if __name__ == "__main__":
    main()
