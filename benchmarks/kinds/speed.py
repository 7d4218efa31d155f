"""The ``speed`` kind: training throughput of each arm, against the machine's own matmul peak.

Tasks name the model an arm's overrides apply to (``benchmarks.speed.experiment``): ``demo`` (the
demo recipe's model) or ``paper`` (the tiny preset, the paper's plain fusion). In one process:
(1) the fp32 (and native bf16) matmul peak at the run's threads; (2) per (task, arm), on one batch
in memory: training FLOPs per sample (forward + backward), the model step's questions/s with one
and with ``per_image`` questions per image (each image encoded once), on one thread too, and the
data pipeline alone; (3) training samples/s end to end through the real trainer, in ``rounds``
interleaved rounds (each arm once per round, so a disturbance slows them alike; the best round
counts), optionally compiled; the achieved GFLOP/s and its fraction of the peak. Payload:
``{"peak", "peak_bf16", "peak_after", "rows": [one per (task, arm)]}``. Metrics for findings:
every number of a row (``trainer_samples_per_s``, ``fraction_of_peak``: of the higher of the peaks
measured before and after, ``pipeline_over_trainer``...).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from benchmarks import peer_fusions, speed
from benchmarks.results import replace
from jarvl.config import ConfigError
from jarvl.profiling.peak import matmul_peak


@dataclass
class Settings:
    steps: int = 40  # trainer steps per round (the first quarter not timed)
    rounds: int = 2
    batch: int = 64
    workers: int = 1  # data-loader workers
    threads: int = 0  # torch threads (0: torch's default)
    per_image: int = 4  # questions per image in the shared-image model step
    step_repeats: int = 8  # model steps timed per rate
    min_objects: int = 3
    max_objects: int = 6
    tokenizer_samples: int = 3000
    pipeline: bool = True  # the data pipeline alone
    one_thread: bool = True  # the model step on one thread too
    compile: bool = False  # the trainer with run.compile too (3x the steps, the first two thirds not timed)


def run(exp, st: Settings, ctx) -> dict:
    def cfg(task, arm, steps=st.steps, extra=None):
        return speed.experiment(task, {**arm.set, **(extra or {})}, batch=st.batch, steps=steps, workers=st.workers,
                                threads=st.threads, scene=f"min_objects={st.min_objects}&max_objects={st.max_objects}",
                                tokenizer_samples=st.tokenizer_samples, device=ctx.device)  # fmt: skip

    for task in exp.tasks:  # every config builds, and every peer's package is there, before anything is measured
        for arm in exp.arms:
            c = cfg(task, arm)
            if peer_fusions.missing(c.model.fusion.name):
                raise ConfigError(f"arm {arm.label}: {c.model.fusion.name} needs {peer_fusions.missing(c.model.fusion.name)} "
                                  "(pip install -e .[peers]), or leave the arm out with --arms")  # fmt: skip
    if st.threads:
        torch.set_num_threads(st.threads)
    peak = matmul_peak(torch.float32, ctx.device)
    payload = {"peak": peak, "peak_bf16": speed.bf16_peak(peak, ctx.device), "rows": []}
    rows = {}
    for task in exp.tasks:
        for arm in exp.arms:
            trainer, batch = speed.built(cfg(task, arm))
            row = {"task": task, "arm": arm.label, "rates": [], "params": sum(p.numel() for p in trainer.model.parameters())}
            row["train_gflop_per_sample"] = speed.train_flops_per_sample(trainer, batch) / 1e9
            row["step_questions_per_s"] = speed.step_rate(trainer, batch, steps=st.step_repeats)
            row["step_questions_per_s_shared"] = speed.step_rate(trainer, batch, steps=st.step_repeats, per_image=st.per_image)
            if st.one_thread:
                row["step_questions_per_s_1_thread"] = speed.step_rate(trainer, batch, steps=st.step_repeats, threads=1)
            if st.pipeline:
                row["pipeline_samples_per_s"] = speed.pipeline_rate(trainer, max(4, st.step_repeats), st.workers)
            rows[task, arm.label] = row
            ctx.log(f"{task} {arm.label}: {row['train_gflop_per_sample']:.3f} train GFLOP/sample, "
                    f"model step {row['step_questions_per_s']:.0f} questions/s")  # fmt: skip
    for r in range(st.rounds):
        for task in exp.tasks:
            for arm in exp.arms:
                row = rows[task, arm.label]
                row["rates"].append(speed.trainer_rate(cfg(task, arm)))
                ctx.log(f"round {r + 1}/{st.rounds} {task} {arm.label}: {row['rates'][-1]:.0f} samples/s")
                summarize(row, peak)
                replace(payload["rows"], row, ("task", "arm"))
                ctx.save(payload)
    if st.compile:
        for (task, label), row in rows.items():
            arm = exp.arm(label)
            row["trainer_samples_per_s_compiled"] = speed.trainer_rate(cfg(task, arm, 3 * st.steps, {"run.compile": True}), skip=2 / 3)
            ctx.save(payload)
    payload["peak_after"] = matmul_peak(torch.float32, ctx.device)
    best = max(peak, payload["peak_after"], key=lambda p: p["gflop_per_s"])  # the higher of the two: the conservative fraction
    for row in rows.values():
        summarize(row, best)
    return payload


def summarize(row: dict, peak: dict) -> None:
    """The row's derived numbers from its rounds: the best round, GFLOP/s, fraction of peak, pipeline headroom."""
    row["trainer_samples_per_s"] = max(row["rates"])  # the least disturbed round
    row["achieved_gflop_per_s"] = row["trainer_samples_per_s"] * row["train_gflop_per_sample"]
    row["fraction_of_peak"] = row["achieved_gflop_per_s"] / peak["gflop_per_s"]
    if "pipeline_samples_per_s" in row:
        row["pipeline_over_trainer"] = row["pipeline_samples_per_s"] / row["trainer_samples_per_s"]


def values(payload: dict) -> dict:
    out: dict = {}
    for r in payload["rows"]:
        out.setdefault(r["task"], {})[r["arm"]] = {k: v for k, v in r.items() if isinstance(v, (int, float))}
    return out


COLUMNS = (
    ("trainer_samples_per_s", "trainer samples/s", ".0f"),
    ("trainer_samples_per_s_compiled", "compiled", ".0f"),
    ("train_gflop_per_sample", "train GFLOP/sample", ".3f"),
    ("achieved_gflop_per_s", "GFLOP/s", ".1f"),
    ("fraction_of_peak", "of fp32 peak", ".0%"),
    ("step_questions_per_s", "model step q/s", ".0f"),
    ("step_questions_per_s_1_thread", "1 thread", ".0f"),
    ("step_questions_per_s_shared", "shared images", ".0f"),
    ("pipeline_samples_per_s", "data pipeline samples/s", ".0f"),
    ("pipeline_over_trainer", "pipeline / trainer", ".1f"),
)


def render(exp, payload: dict, out, stem: str) -> str:
    p, b = payload["peak"], payload.get("peak_bf16")
    after = payload.get("peak_after", {}).get("gflop_per_s")
    md = [f"Matmul peak measured in this run: fp32 {p['gflop_per_s']:.0f} GFLOP/s ({p['size']}^2, {p['threads']} threads"
          + (f"; {after:.0f} at the end" if after else "") + "); bf16: "
          + (f"{b['gflop_per_s']:.0f} GFLOP/s" if b else "not native on this device (emulated, not used)") + ".\n",
          "`shared images`: the model step with each image's questions sharing its one encoding (`image_index`); "
          "`x first`: trainer samples/s over the table's first arm.\n"]  # fmt: skip
    for task in dict.fromkeys(r["task"] for r in payload["rows"]):
        rows = [r for r in payload["rows"] if r["task"] == task]
        cols = [c for c in COLUMNS if any(c[0] in r for r in rows)]
        md += [f"## {task}\n", "| arm | " + " | ".join(c[1] for c in cols) + " | x first | rounds |",
               "|---|" + "---:|" * (len(cols) + 2)]  # fmt: skip
        for r in rows:
            cells = [format(r[k], f) if k in r else "-" for k, _, f in cols]
            ratio = r["trainer_samples_per_s"] / rows[0]["trainer_samples_per_s"]
            md.append(f"| {r['arm']} | " + " | ".join(cells) + f" | {ratio:.2f}x | {', '.join(f'{x:.0f}' for x in r['rates'])} |")
        md.append("")
    return "\n".join(md)
