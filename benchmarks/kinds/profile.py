"""The ``profile`` kind: FLOPs, memory and latency of model configs, no training (``jarvl.profiling``).

Each arm is dotted overrides of the preset's ``ModelConfig`` (``fusion.name``, ``fusion.num_tokens``,
``vision.image_size``...). Identical configs are profiled once; each record in a fresh spawned
process (``fresh``), so its step peak is its own. GFLOPs are per sample, forward, FLOPs = 2 x
multiply-adds. Payload: ``{"records": [ProfileRecord dict + label]}``. Metrics for findings, with
the preset as the task: every record field (``gflops``, ``activation_mb``, ``params``, ``latency_ms``...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from benchmarks import measure
from benchmarks.paper import figures
from jarvl.config import to_dict


@dataclass
class Settings:
    preset: str = "paper-base"
    batch: int = 2
    text_len: int = 32
    target_len: int = 8
    repeats: int = 2
    timing: bool = True  # latency and train-step time (of every record)
    jobs: int = 1  # records at once; above 1, latency and step peak are skewed
    fresh: bool = True  # one process per record


def run(exp, st: Settings, ctx) -> dict:
    kwargs = {
        "batch": st.batch,
        "text_len": st.text_len,
        "target_len": st.target_len,
        "repeats": st.repeats,
        "timing": st.timing,
        "device": ctx.device,
    }
    unique: dict[str, dict] = {}
    keys = []
    for arm in exp.arms:  # validates every config before the first record
        key = json.dumps(to_dict(measure.model_config(st.preset, arm.set)), sort_keys=True)
        keys.append(key)
        unique.setdefault(key, {"label": arm.label, "preset": st.preset, "overrides": arm.set, "kwargs": kwargs})
    done = dict(zip(unique, measure.profile_fresh(list(unique.values()), st.jobs, st.fresh, log=ctx.log)))
    return {"records": [{**done[k], "label": arm.label, "overrides": arm.set} for k, arm in zip(keys, exp.arms)]}


def values(payload: dict) -> dict:
    out: dict = {}
    for r in payload["records"]:
        out.setdefault(r["preset"], {})[r["label"]] = r
    return out


def paper_gflops(label: str) -> float | None:
    """The paper's GFLOPs for an arm named like a fusion (``jar``) or an ablation (``jar iterations=4``)."""
    if label in figures("fusions"):
        return figures("fusions")[label].get("gflops")
    knob, _, value = label.removeprefix("jar ").partition("=")
    row = figures("ablations").get(knob, {})
    return next((v["gflops"] for k, v in row.items() if str(k) == value), None)


def render(exp, payload: dict, out: Path, stem: str) -> str:
    recs = {r["label"]: r for r in payload["records"]}
    groups = exp.tables or {"arms": list(recs)}
    num = lambda x, f: "-" if x is None else format(x, f)  # noqa: E731
    md = []
    for name, labels in groups.items():
        labels = [x for x in labels if x in recs]
        if not labels:
            continue
        ref = recs[labels[0]]
        md += [f"## {name}\n" if len(groups) > 1 else "",
               f"| arm | px | image tokens | GFLOPs | image / text / fusion / decoder | x {labels[0]} | params | fusion params | act. MB | step peak MB | latency ms | paper GF |",
               "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for label in labels:
            r = recs[label]
            parts = " / ".join(f"{r[k]:.2f}" for k in ("gflops_image", "gflops_text", "gflops_fusion", "gflops_decoder"))
            md.append(f"| {label} | {r['image_size']} | {r['image_tokens']} | {r['gflops']:.3f} | {parts} | {r['gflops'] / ref['gflops']:.2f}x "
                      f"| {r['params'] / 1e6:.1f}M | {r['params_fusion'] / 1e6:.1f}M | {r['activation_mb']:.1f} | {num(r.get('step_peak_mb'), '.0f')} "
                      f"| {num(r.get('latency_ms'), '.1f')} | {num(paper_gflops(label), '')} |")  # fmt: skip
        md.append("")
    md.append(readings(recs))
    return "\n".join(md)


def readings(recs: dict) -> str:
    """Our GFLOPs over the paper's under four readings of its unstated convention (1.00: an exact match)."""
    pairs = [(label, r, paper_gflops(label)) for label, r in recs.items() if paper_gflops(label)]
    if not pairs:
        return ""
    ways = {"2xMAC, all": lambda r: r["gflops"], "MAC, all": lambda r: r["gflops"] / 2,
            "2xMAC, no image enc.": lambda r: r["gflops"] - r["gflops_image"], "MAC, no image enc.": lambda r: (r["gflops"] - r["gflops_image"]) / 2}  # fmt: skip
    lines = ["## Our count against the paper's\n", "Ours / paper under four readings of the paper's convention:\n",
             "| arm | paper GF | " + " | ".join(ways) + " |", "|---|---:|" + "---:|" * len(ways)]  # fmt: skip
    lines += [f"| {label} | {p} | " + " | ".join(f"{fn(r) / p:.2f}" for fn in ways.values()) + " |" for label, r, p in pairs]
    return "\n".join(lines) + "\n"
