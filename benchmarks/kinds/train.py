"""The ``train`` kind: every (seed, task, arm) trained and scored under one protocol.

Settings: ``benchmarks.protocol.Protocol``. Payload: ``{"runs": [run records], "costs": [cost
per (arm, task)], "text_only": {task: {split: accuracy}}}``; seeds are outermost, so a stopped
experiment has every arm's first seeds. Metrics for findings, per task and arm: ``test``,
``comp`` (accuracy), ``samples_per_s``, ``train_s``, ``gate_mean_abs``, ``latency_b1`` /
``latency_b32`` (over seeds), and the cost's ``gflops``, ``activation_mb``, ``params``.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import families, plots
from benchmarks.paper import figures
from benchmarks.protocol import Protocol, check, train_and_score
from benchmarks.results import replace

Settings = Protocol
PER_SEED = ("samples_per_s", "train_s", "gate_mean_abs")
# Settings that change what a run measures: results made under other ones are never merged.
MERGE_KEYS = (
    "recipe",
    "budget_samples",
    "min_objects",
    "max_objects",
    "families",
    "train_n",
    "eval_samples",
    "val_samples",
    "curve_points",
    "set",
)


def run(exp, proto: Protocol, ctx) -> dict:
    check(exp.arms, exp.tasks, proto, ctx.device)
    payload = ctx.old or {"runs": [], "costs": [], "text_only": {}}
    payload.setdefault("text_only_family", {})
    total, done, t0 = proto.seeds * len(exp.tasks) * len(exp.arms), 0, time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f"jarvl-{exp.name}-"))
    costed: set = set()
    try:
        for seed in range(proto.first_seed, proto.first_seed + proto.seeds):
            for task in exp.tasks:
                for arm in exp.arms:
                    r = train_and_score(
                        arm, task, seed, proto, work / f"{task}-{seed}-{len(costed)}", ctx.device, (arm.label, task) not in costed
                    )
                    if "cost" in r:
                        replace(payload["costs"], {"arm": arm.label, "task": task, **r.pop("cost")}, ("arm", "task"))
                        costed.add((arm.label, task))
                    replace(payload["runs"], r, ("arm", "task", "seed"))
                    payload["text_only"].setdefault(task, r["text_only"])
                    payload["text_only_family"].setdefault(task, r.get("text_only_family", {}))
                    done += 1
                    left = (time.perf_counter() - t0) / done * (total - done) / 60
                    acc = ", ".join(f"{s} {100 * r[s]['accuracy']:.1f}%" for s in proto.splits)
                    ctx.log(f"[{done}/{total}] seed {seed} {task} {arm.label}: {acc}, {r['samples_per_s']:.0f} samples/s, "
                            f"{r['wall_s']:.0f} s{' (CAPPED)' if r['capped'] else ''}; ~{left:.0f} min left")  # fmt: skip
                    ctx.save(payload)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return payload


def merge(old: dict, new: dict) -> dict:
    out = {
        "runs": list(old.get("runs", [])),
        "costs": list(old.get("costs", [])),
        "text_only": {**old.get("text_only", {}), **new["text_only"]},
        "text_only_family": {**old.get("text_only_family", {}), **new.get("text_only_family", {})},
    }
    for r in new["runs"]:
        replace(out["runs"], r, ("arm", "task", "seed"))
    for c in new["costs"]:
        replace(out["costs"], c, ("arm", "task"))
    return out


def mean_std(values: list) -> dict:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"mean": None, "std": None, "values": [], "seeds": []}
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "values": vals}


def values(payload: dict) -> dict:
    """Per task, per arm: each metric over seeds (mean, std, values, seeds) and the cost's numbers."""
    out: dict = {}
    for r in payload.get("runs", []):
        out.setdefault(r["task"], {}).setdefault(r["arm"], []).append(r)
    for task, arms in out.items():
        for arm, runs in arms.items():
            runs.sort(key=lambda r: r["seed"])
            seeds = [r["seed"] for r in runs]
            v: dict = {"seeds": seeds, "samples": runs[0]["samples"], "capped": any(r.get("capped") for r in runs)}
            for split in ("test", "comp"):
                if all(split in r for r in runs):
                    v[split] = {**mean_std([r[split]["accuracy"] for r in runs]), "seeds": seeds}
            for k in PER_SEED:  # a run without the metric (None) drops out with its seed, so pairs stay by seed
                have = [r for r in runs if r.get(k) is not None]
                v[k] = {**mean_std([r[k] for r in have]), "seeds": [r["seed"] for r in have]}
            for b in ("b1", "b32"):
                v[f"latency_{b}"] = mean_std([(r.get("latency_ms") or {}).get(b) for r in runs])
            cost = next((c for c in payload.get("costs", []) if c["arm"] == arm and c["task"] == task), {})
            v.update({k: x for k, x in cost.items() if k not in ("arm", "task")})
            v["curve"] = mean_curve(runs)
            arms[arm] = v
    return out


def mean_curve(runs: list[dict]) -> list[dict]:
    """The validation curve averaged over seeds, point by point."""
    n = min((len(r.get("curve") or []) for r in runs), default=0)
    return [
        {"samples": runs[0]["curve"][i]["samples"], "train_s": statistics.fmean(r["curve"][i]["train_s"] for r in runs),
         "accuracy": (s := mean_std([r["curve"][i]["accuracy"] for r in runs]))["mean"], "std": s["std"]}
        for i in range(n)
    ]  # fmt: skip


def pct(s: dict | None) -> str:
    if not s or s.get("mean") is None:
        return "-"
    return f"{100 * s['mean']:.1f}%" + (f" +- {100 * s['std']:.1f}" if len(s.get("values", [])) > 1 else "")


def table(arms: dict, labels: list[str], prior: dict, task: str) -> str:
    """One markdown row per arm: accuracies, the gain over the text-only prior, cost, speed, latency, the paper's figures."""
    paper, acc_key = figures("fusions"), "gqa" if task == "vqa" else "snli_ve"
    ref = (arms.get(labels[0]) or {}).get("gflops")
    head = ["arm", "test acc.", "comp acc.", "vs text-only", "GFLOPs", f"x {labels[0]}", "params", "act. MB", "samples/s", "gate",
            "latency b1 / b32 ms", "paper GF / acc."]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    num = lambda x, f: "-" if x is None else format(x, f)  # noqa: E731
    for a in labels:
        v = arms.get(a)
        if v is None:
            lines.append(f"| {a} | not run |" + " |" * (len(head) - 2))
            continue
        gf, p, lat = v.get("gflops"), paper.get(a, {}), v["latency_b1"]["mean"]
        cells = [
            a, pct(v.get("test")), pct(v.get("comp")),
            "-" if prior.get("test") is None or "test" not in v else f"{100 * (v['test']['mean'] - prior['test']):+.1f}",
            num(gf, ".4f"), f"{gf / ref:.2f}x" if gf and ref else "-", "-" if not v.get("params") else f"{v['params'] / 1e6:.2f}M",
            num(v.get("activation_mb"), ".0f"), num(v["samples_per_s"]["mean"], ".0f"), num(v["gate_mean_abs"]["mean"], ".3f"),
            "-" if lat is None else f"{lat:.1f} / {v['latency_b32']['mean']:.1f}", f"{p.get('gflops', '-')} / {p.get(acc_key, '-')}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(exp, payload: dict, out: Path, stem: str) -> str:
    vals = values(payload)
    labels = [a.label for a in exp.arms] or sorted({r["arm"] for r in payload.get("runs", [])})
    groups = exp.tables or {"arms": labels}
    md = [payload["note"] + "\n"] if payload.get("note") else []  # e.g. what a ported result measured differently
    for task, arms in vals.items():
        prior = payload.get("text_only", {}).get(task, {})
        md.append(f"## {task}\n\nText-only prior (majority training answer of each exact prompt): "
                  + (", ".join(f"{s} {100 * a:.1f}%" for s, a in prior.items()) or "not recorded") + ".\n")  # fmt: skip
        for name, group in groups.items():
            md += [f"### {task}: {name}\n" if len(groups) > 1 else "", table(arms, group, prior, task) + "\n"]
        fam_prior = payload.get("text_only_family", {}).get(task, {}).get("test", {})
        if len(fam_prior) > 1:
            by_arm = {a: [r for r in payload["runs"] if r["task"] == task and r["arm"] == a] for a in arms}
            md += [f"Per family: test accuracy, mean over seeds (points over text-only); then the training samples at which the "
                   f"validation curve (mean over seeds) first reaches text-only + {100 * families.MARGIN:.0f} points:\n",
                   families.table(by_arm, fam_prior, [a for a in labels if a in arms]) + "\n"]  # fmt: skip
        capped = [a for a, v in arms.items() if v["capped"]]
        if capped:
            md.append(f"**Stopped by minutes_per_run before the budget: {', '.join(capped)}** (not comparable).\n")
        seeds = sorted({k for v in arms.values() for k in v["seeds"]})
        md += ["Per seed (test accuracy):\n", "| arm | " + " | ".join(f"seed {k}" for k in seeds) + " |", "|---|" + "---:|" * len(seeds)]
        for a, v in arms.items():
            by = dict(zip(v["seeds"], v.get("test", {}).get("values", [])))
            md.append(f"| {a} | " + " | ".join("-" if k not in by else f"{100 * by[k]:.1f}%" for k in seeds) + " |")
        md.append("")
    if len(groups) > 1 and vals:  # a table per knob: the ablation bars, one panel per knob
        task, arms = next(iter(vals.items()))
        bars = {g: [{"value": a.split("=", 1)[-1], "mean": arms[a]["test"]["mean"], "std": arms[a]["test"]["std"], "gflops": arms[a].get("gflops"),
                     "default": "=" not in a} for a in labels if a in arms and "test" in arms[a]] for g, labels in groups.items()}  # fmt: skip
        png = f"{stem}_bars.png"
        plots.ablation_bars({g: b for g, b in bars.items() if b}, out / png, baseline=payload.get("text_only", {}).get(task, {}).get("test"),
                            title=f"{task}: held-out accuracy, mean +- std over seeds (outlined: the recipe's value)")  # fmt: skip
        md.append(f"![{png}]({png})\n")
    if vals and any(v.get("gflops") for arms in vals.values() for v in arms.values()):
        png = f"{stem}_accuracy_vs_gflops.png"
        panels = {
            t: {a: {"gflops": v["gflops"], **v["test"]} for a, v in arms.items() if v.get("gflops") and "test" in v}
            for t, arms in vals.items()
        }
        plots.accuracy_vs_gflops(panels, out / png, baselines={t: p.get("test") for t, p in payload.get("text_only", {}).items()},
                                 title=f"{exp.title}: held-out accuracy against cost, mean +- std over seeds")  # fmt: skip
        md.append(f"![{png}]({png})\n")
    if vals and any(v["curve"] for arms in vals.values() for v in arms.values()):
        png = f"{stem}_accuracy_vs_time.png"
        plots.accuracy_vs_time({t: {a: v["curve"] for a, v in arms.items()} for t, arms in vals.items()}, out / png,
                               title="validation accuracy during training, mean +- std over seeds")  # fmt: skip
        md.append(f"![{png}]({png})\n")
    return "\n".join(md)
