"""How accuracy and cost move as the image grows (more image tokens), for concat and JAR.

Two parts, on the ``tiny`` preset (patch 8, so S px gives (S/8)^2 image tokens):

1. cost: GFLOPs per sample (forward), activation memory of one fp32 training step of the batch
   and the median train-step latency, at 32/48/64/96/128 px (16..256 image tokens), for each
   ``--fusions``. Profiling only (``jarvl.profiling.profile_model``, in this process), seconds.
   The ``paper-base`` figures at 224/384/512 px are read from ``benchmarks/results/flops.json``
   when it is there (``benchmarks/flops.py`` makes it; nothing is recomputed here).
2. accuracy: the demo recipe (``src/jarvl/configs/demo.yaml``) trained with the same sample budget
   at 48/64/96 px, for each fusion and seed: ``model.vision.image_size`` and the synthetic scenes'
   ``image_size`` option are both set to the size, so a bigger image holds the same scene drawn
   finer (32 px cannot hold the recipe's 3-6 objects). Held-out test accuracy (exact match) beside
   the text-only baseline (the majority training answer of each exact question), as in the demo.

Writes ``scaling.json`` + ``scaling.md`` (after every training run, so a killed run keeps what is
done) and ``scaling_cost.png`` (GFLOPs, memory and step time against image tokens) and
``scaling_accuracy.png`` (accuracy against image tokens) into ``--out``.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/scaling.py                     # ~35 min on 2 idle cores
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/scaling.py --part cost         # ~1 min
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/scaling.py --estimate          # the full run's time, without training
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/scaling.py --quick --out /tmp/scaling   # ~30 s, for tests

The full run's time is dominated by training: ``--samples`` per run x fusions x sizes x seeds at
the rates in ``RATES`` (2 cores); ``--estimate`` prints it for any setting.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import restore_provenance, write_results  # noqa: E402

from jarvl.data.registry import DatasetSpec  # noqa: E402

ROOT = Path(__file__).resolve().parent
COST_SIZES = [32, 48, 64, 96, 128]
ACCURACY_SIZES = [48, 64, 96]
FUSIONS = ["concat", "jar"]
# Training samples/s of the tiny preset at batch 64 on 2 idle cores, only for --estimate: 64 px from
# train_speed.md (trainer end to end), the other sizes scaled from it by this script's step times
# at batch 64 (forward + backward, measured 2026-11-27).
RATES = {("concat", 48): 300, ("concat", 64): 184, ("concat", 96): 70, ("concat", 128): 33,
         ("jar", 48): 380, ("jar", 64): 228, ("jar", 96): 125, ("jar", 128): 60}  # fmt: skip


# ----------------------------------------------------------------------------- cost


def profile_sizes(preset: str, fusions: list[str], sizes: list[int], batch: int, repeats: int) -> list[dict]:
    """One ``ProfileRecord`` dict per fusion x image size (``vision.image_size`` overridden).

    Profiled in this process one after another, so ``step_peak_mb`` (a resident-memory rise) is
    not clean; ``activation_mb`` (bytes autograd saves) and GFLOPs are exact, ``train_step_ms`` is
    the median of ``repeats`` forward + backward passes.
    """
    from jarvl.config import apply_overrides
    from jarvl.models import get_preset
    from jarvl.profiling import profile_model

    records = []
    for size in sizes:
        for fusion in fusions:
            cfg = apply_overrides(get_preset(preset, fusion), [f"vision.image_size={size}"]).validate()
            t = time.perf_counter()
            rec = profile_model(cfg, batch=batch, repeats=repeats, timing=True).as_dict()
            records.append(rec)
            print(f"cost {fusion:8s} {size:4d}px {rec['image_tokens']:4d} tokens: {rec['gflops']:6.3f} GF "
                  f"{rec['activation_mb']:7.1f} MB {rec['train_step_ms']:7.1f} ms/step ({time.perf_counter() - t:.1f} s)", flush=True)  # fmt: skip
    return records


def paper_base_sizes(path: Path, fusions: list[str]) -> dict | None:
    """The paper-base image-size table of ``flops.json`` (``benchmarks/flops.py``), or None.

    Returns ``{"source", "batch", "records": [{fusion, image_size, image_tokens, gflops, activation_mb, batch}]}``.
    """
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    by_id = {r["id"]: r for r in data["records"]}
    rows = []
    for cell in data["tables"]["sizes"]:
        r = by_id[cell["record"]]
        if cell["fusion"] in fusions:
            rows.append({k: r[k] for k in ("fusion", "image_size", "image_tokens", "gflops", "gflops_fusion", "activation_mb", "batch")})
    source = os.path.relpath(path) if str(path.resolve()).startswith(os.getcwd()) else str(path)
    return {"source": source, "date": data["meta"].get("date"), "preset": data["meta"]["grid"]["preset"], "records": rows}


# ----------------------------------------------------------------------------- accuracy


def with_options(spec: str, **options) -> str:
    """``spec`` with its ``?key=value`` options set (added, or replaced when present)."""
    return str(DatasetSpec.parse(spec).with_options(options))


def accuracy_config(fusion: str, size: int, seed: int, args):
    """The demo recipe for ``fusion`` at ``size`` px (model and scenes), ``args.samples`` samples, no timed stops."""
    from jarvl.train.config import shipped_recipe

    def recipe(overrides):
        return shipped_recipe("demo", overrides)

    batch = recipe([]).data.batch_size
    steps = max(1, args.samples // batch)
    cfg = recipe([
        f"model.fusion.name={fusion}", f"model.vision.image_size={size}", f"run.seed={seed}",
        f"run.max_steps={steps}", "run.max_minutes=0", "run.eval_every=0", "run.eval_every_minutes=0",
        "run.checkpoint_every=0", f"run.eval_samples={args.val_samples}", f"run.threads={args.threads}",
        "run.progress=false", f"run.log_every={max(1, steps // 20)}",
        *args.set,
    ])  # fmt: skip
    scenes = dict(parse_qsl(args.scenes or ""))
    cfg.data.train = [with_options(s, **scenes, image_size=size) for s in cfg.data.train]
    cfg.data.val = [with_options(s, **scenes, image_size=size) for s in cfg.data.val]
    return cfg


def check_accuracy_configs(fusions: list[str], sizes: list[int], args) -> None:
    """Fail before the first run for a size the scenes cannot hold or a bad override, not an hour in."""
    from jarvl.data.registry import open_dataset

    for size in sizes:
        for fusion in fusions:
            cfg = accuracy_config(fusion, size, 0, args)
            for spec in cfg.data.train + cfg.data.val:
                try:
                    open_dataset(with_options(spec, n=1))
                except ValueError as err:
                    raise SystemExit(f"accuracy part at {size}px: {spec}: {err}") from None


def train_one(fusion: str, size: int, seed: int, args, run_dir: Path) -> dict:
    """Train one run and score it on ``args.test_size`` held-out test questions (and the text-only baseline)."""
    from jarvl.cli.demo import evaluate_split, strip
    from jarvl.evaluation.predict import AnswerTally
    from jarvl.train.trainer import Trainer

    cfg = accuracy_config(fusion, size, seed, args)
    tally = AnswerTally()
    trainer = Trainer(cfg, run_dir, overwrite=True, batch_hooks=[tally])  # a rerun replaces its runs
    summary = trainer.fit()
    test, _ = evaluate_split(trainer, "test", args.test_size)
    return {
        "fusion": fusion, "image_size": size, "image_tokens": cfg.model.vision.num_tokens, "seed": seed,
        "steps": summary["steps"], "samples": summary["samples"], "train_seconds": round(summary["elapsed_s"], 1),
        "samples_per_s": summary["samples"] / max(1e-9, summary["elapsed_s"]),
        "val_accuracy": (summary["final"] or {}).get("accuracy"),
        "test": strip(test), "text_only": strip(tally.report(test["records"])), "run_dir": str(run_dir),
    }  # fmt: skip


def estimate_minutes(fusions: list[str], sizes: list[int], seeds: int, samples: int) -> float:
    """Minutes of training at ``RATES`` (plus ~10 s a run for set-up and evaluation)."""
    secs = sum(samples / RATES.get((f, s), 100) + 10 for f in fusions for s in sizes) * seeds
    return secs / 60


# ----------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _token_axis(ax) -> None:
    """Log-2 x axis labelled with the image-token counts that are plotted."""
    toks = sorted({int(x) for line in ax.lines if line.get_marker() not in (None, "None", "") for x in line.get_xdata()})
    shown: list[int] = []
    for t in toks:  # labels closer than x1.5 would overlap
        if not shown or t / shown[-1] >= 1.5:
            shown.append(t)
    ax.set_xscale("log", base=2)
    ax.set_xticks(shown, [str(t) for t in shown])
    ax.minorticks_off()
    ax.set_xlabel("image tokens")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_cost(cost: list[dict], paper: dict | None, fusions: list[str], path: Path) -> Path:
    """GFLOPs, activation memory and train-step time against image tokens, one line per fusion;
    a second row with paper-base (from flops.json) when given."""
    plt = _plt()
    rows = 2 if paper and paper["records"] else 1
    fig, axes = plt.subplots(rows, 3, figsize=(13, 3.9 * rows), dpi=110, squeeze=False)
    panels = [("gflops", "GFLOPs per sample (forward)"), ("activation_mb", "activation memory (MB)"), ("train_step_ms", "train step (ms)")]
    batch = cost[0]["batch"] if cost else 0
    for ax, (key, label) in zip(axes[0], panels):
        for f in fusions:
            recs = sorted((r for r in cost if r["fusion"] == f), key=lambda r: r["image_tokens"])
            ax.plot([r["image_tokens"] for r in recs], [r[key] for r in recs], marker="o", label=f)
        ax.set_title(f"tiny: {label}" + (f", batch {batch}" if key != "gflops" else ""), fontsize=9)
    if rows == 2:
        pb = paper["records"]
        for ax, (key, label) in zip(axes[1][:2], panels[:2]):
            for f in fusions:
                recs = sorted((r for r in pb if r["fusion"] == f), key=lambda r: r["image_tokens"])
                ax.plot([r["image_tokens"] for r in recs], [r[key] for r in recs], marker="o", label=f)
            ax.set_title(f"paper-base: {label}" + (f", batch {pb[0]['batch']}" if key != "gflops" else ""), fontsize=9)
        ax = axes[1][2]  # JAR / concat ratios on both presets
        for name, recs, style in (("tiny", cost, "-"), ("paper-base", pb, "--")):
            by = {(r["fusion"], r["image_tokens"]): r for r in recs}
            toks = sorted({t for f, t in by if f == "jar" and ("concat", t) in by})
            for key, color in (("gflops", "C0"), ("activation_mb", "C1")):
                ax.plot(toks, [by["jar", t][key] / by["concat", t][key] for t in toks], style, color=color, marker="o",
                        label=f"{name} {'GFLOPs' if key == 'gflops' else 'memory'}")  # fmt: skip
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.set_title("JAR / concat", fontsize=9)
    for ax in axes.ravel():
        if ax.lines:
            _token_axis(ax)
    fig.suptitle("Cost against image tokens: concat vs JAR", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_accuracy(runs: list[dict], fusions: list[str], path: Path) -> Path:
    """Held-out accuracy (each seed a dot, the mean a line) and training samples/s against image tokens."""
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.9), dpi=110)
    for i, f in enumerate(fusions):
        recs = [r for r in runs if r["fusion"] == f]
        toks = sorted({r["image_tokens"] for r in recs})
        acc = [[100 * r["test"]["accuracy"] for r in recs if r["image_tokens"] == t] for t in toks]
        rate = [[r["samples_per_s"] for r in recs if r["image_tokens"] == t] for t in toks]
        ax.plot(toks, [statistics.mean(a) for a in acc], marker="o", color=f"C{i}", label=f)
        for t, a in zip(toks, acc):
            ax.scatter([t] * len(a), a, color=f"C{i}", s=12, alpha=0.5)
        ax2.plot(toks, [statistics.mean(r) for r in rate], marker="o", color=f"C{i}", label=f)
    toks = sorted({r["image_tokens"] for r in runs})
    base = [statistics.mean(100 * r["text_only"]["accuracy"] for r in runs if r["image_tokens"] == t) for t in toks]
    ax.plot(toks, base, "--", color="gray", label="text-only baseline")
    ax.set_ylabel("held-out test accuracy (%)")
    ax.set_title("synthetic VQA, tiny, same sample budget", fontsize=9)
    ax2.set_ylabel("training samples/s")
    ax2.set_title("training throughput during these runs", fontsize=9)
    for a in (ax, ax2):
        _token_axis(a)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- markdown


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _ratio(a, b) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


def cost_table(records: list[dict], keys: list[tuple[str, str, int]]) -> str:
    """Rows per image size: each key for concat and JAR, and JAR / concat."""
    by = {(r["fusion"], r["image_size"]): r for r in records}
    sizes = sorted({s for _, s in by})
    header, rows = ["size", "image tokens"], []
    for _, label, _ in keys:
        header += [f"concat {label}", f"jar {label}", "jar / concat"]
    for s in sizes:
        c, j = by.get(("concat", s)), by.get(("jar", s))
        any_rec = c or j
        row = [f"{s}px", any_rec["image_tokens"]]
        for key, _, p in keys:
            cv, jv = c and c.get(key), j and j.get(key)
            row += ["-" if cv is None else f"{cv:.{p}f}", "-" if jv is None else f"{jv:.{p}f}", _ratio(jv, cv)]
        rows.append(row)
    return _table(header, rows)


def growth_lines(records: list[dict], fusions: list[str], name: str) -> str:
    """One sentence per fusion: how GFLOPs and memory grow from the fewest to the most image tokens."""
    out = []
    for f in fusions:
        recs = sorted((r for r in records if r["fusion"] == f), key=lambda r: r["image_tokens"])
        if len(recs) < 2:
            continue
        a, b = recs[0], recs[-1]
        out.append(
            f"- {name} {f}: {a['image_tokens']} -> {b['image_tokens']} image tokens (x{b['image_tokens'] / a['image_tokens']:.1f}): "
            f"GFLOPs x{b['gflops'] / a['gflops']:.2f}, activation memory x{b['activation_mb'] / a['activation_mb']:.2f}"
            + (f", step time x{b['train_step_ms'] / a['train_step_ms']:.2f}" if a.get("train_step_ms") and b.get("train_step_ms") else "")
            + ".\n"
        )  # fmt: skip
    return "".join(out)


def accuracy_table(runs: list[dict], fusions: list[str]) -> str:
    """Rows per image size: mean test accuracy (min-max over seeds) per fusion, the text-only baseline, and
    training samples/s (the median over seeds: one run slowed by something else on the machine does not move it)."""
    sizes = sorted({r["image_size"] for r in runs})
    header = ["size", "image tokens"] + [f"{f} test acc." for f in fusions] + ["text-only"] + [f"{f} samples/s (median)" for f in fusions]
    rows = []
    for s in sizes:
        here = [r for r in runs if r["image_size"] == s]
        row = [f"{s}px", here[0]["image_tokens"]]
        for f in fusions:
            acc = [100 * r["test"]["accuracy"] for r in here if r["fusion"] == f]
            row.append(
                "-"
                if not acc
                else f"{statistics.mean(acc):.1f}%" + (f" ({min(acc):.1f}-{max(acc):.1f}, {len(acc)} seeds)" if len(acc) > 1 else "")
            )
        row.append(f"{statistics.mean(100 * r['text_only']['accuracy'] for r in here):.1f}%")
        for f in fusions:
            rate = [r["samples_per_s"] for r in here if r["fusion"] == f]
            row.append("-" if not rate else f"{statistics.median(rate):.0f}")
        rows.append(row)
    return _table(header, rows)


def family_table(runs: list[dict], fusions: list[str]) -> str:
    """Mean test accuracy per question family, per fusion and size."""
    fams = sorted({fam for r in runs for fam in r["test"]["per_family"]})
    rows = []
    for s in sorted({r["image_size"] for r in runs}):
        for f in fusions:
            here = [r for r in runs if r["image_size"] == s and r["fusion"] == f]
            if here:
                rows.append(
                    [f"{s}px", f] + [f"{100 * statistics.mean(r['test']['per_family'].get(fam, 0) for r in here):.1f}%" for fam in fams]
                )
    return _table(["size", "fusion"] + fams, rows)


def accuracy_notes(runs: list[dict], fusions: list[str]) -> str:
    """Formatted observations: where each fusion stands against the text-only baseline."""
    out = []
    for f in fusions:
        for s in sorted({r["image_size"] for r in runs if r["fusion"] == f}):
            here = [r for r in runs if r["fusion"] == f and r["image_size"] == s]
            acc = statistics.mean(r["test"]["accuracy"] for r in here)
            base = statistics.mean(r["text_only"]["accuracy"] for r in here)
            if abs(acc - base) < 0.03:
                out.append(f"{f} at {s}px ({100 * acc:.1f}% vs {100 * base:.1f}%)")
    if not out:
        return ""
    return (
        "- **At the language prior** (within 3 points of the text-only baseline): " + ", ".join(out) + ". "
        "There the image is not used yet, so accuracy says nothing about image size; see docs/recipe.md "
        "(the demo recipe's 3-6-object task sits at the prior for every fusion in its budget).\n"
    )


def markdown(payload: dict, fusions: list[str]) -> str:
    """The page: cost tables (tiny; paper-base from flops.json), the accuracy table and notes."""
    cost, paper, acc = payload["cost"], payload["paper_base"], payload["accuracy"]
    md = ["# Scaling with image size: concat vs JAR\n\n"]
    if payload.get("quick"):
        md.append("**Quick run (tiny grid, a few steps): the numbers below are not meaningful.**\n\n")
    for f in payload.get("findings", []):
        md.append(f"- {f['finding']} ({f['task']}): **{'yes' if f['held'] else 'no'}**: {f['detail']}.\n")
    if payload.get("findings"):
        md.append("\n")
    if cost["records"]:
        md += [
            f"## Cost, `{cost['preset']}` preset\n\n",
            f"Per sample GFLOPs of the forward pass (2 x multiply-adds); `act. MB`: what autograd saves for backward in one "
            f"fp32 training step of batch {cost['batch']}; `step ms`: median of {cost['repeats']} forward + backward passes "
            "of that batch, measured in one process on a shared machine (noisy). The prompt is "
            f"{cost['records'][0]['text_len']} tokens, the target {cost['records'][0]['target_len']}.\n\n",
            cost_table(cost["records"], [("gflops", "GF", 3), ("activation_mb", "act. MB", 1), ("train_step_ms", "step ms", 1)]) + "\n\n",
            growth_lines(cost["records"], fusions, cost["preset"]),
            "\n![cost against image tokens](scaling_cost.png)\n\n",
        ]
    if paper and paper["records"]:
        md += [
            "## Cost, `paper-base` preset (from flops.json)\n\n",
            f"Read from `{paper['source']}` ({paper['date']}), not recomputed; activation memory at batch "
            f"{paper['records'][0]['batch']}.\n\n",
            cost_table(paper["records"], [("gflops", "GF", 1), ("gflops_fusion", "fusion GF", 1), ("activation_mb", "act. MB", 0)])
            + "\n\n",
            growth_lines(paper["records"], fusions, "paper-base"),
            "\n",
        ]
    elif payload.get("flops_json_missing"):
        md.append(f"(No paper-base rows: `{payload['flops_json_missing']}` not found; `benchmarks/flops.py` makes it.)\n\n")
    if acc["runs"]:
        s = acc["settings"]
        done = len(acc["runs"])
        md += [
            "## Accuracy against image tokens (tiny, demo recipe)\n\n",
            f"The demo recipe (`src/jarvl/configs/demo.yaml`) at each size, model and synthetic scenes alike, "
            f"{s['samples']} training samples per run (batch {s['batch']}, the cosine schedule over those steps), seeds "
            f"{', '.join(map(str, s['seeds']))}; accuracy is exact match on {s['test_size']} held-out test questions; "
            "`text-only` answers each exact question with its majority training answer. "
            + (f"Scenes: `{s['scenes']}` instead of the recipe's. " if s.get("scenes") else "")
            + f"{done} of {s['planned_runs']} runs done.\n\n",
            accuracy_table(acc["runs"], fusions) + "\n\n",
            "Per question family:\n\n",
            family_table(acc["runs"], fusions) + "\n\n",
            accuracy_notes(acc["runs"], fusions),
            "\n![accuracy against image tokens](scaling_accuracy.png)\n",
        ]
    return "".join(md)


# ----------------------------------------------------------------------------- main


def findings(payload: dict) -> list[dict]:
    """The paper-facing verdicts (for report.py): JAR's cost advantage grows with the image, and its
    accuracy stays within one standard deviation of concat's (over seeds) at every size."""
    out = []
    recs = payload["cost"]["records"]
    by = {(r["fusion"], r["image_tokens"]): r for r in recs}
    toks = sorted({t for f, t in by if f == "jar" and ("concat", t) in by})
    if len(toks) >= 2:
        ratios = [by[("jar", t)]["gflops"] / by[("concat", t)]["gflops"] for t in toks]
        out.append(
            {
                "finding": "jar's GFLOPs advantage over concat grows with image tokens",
                "task": f"{payload['cost']['preset']} cost",
                "held": all(b < a for a, b in zip(ratios, ratios[1:])),
                "detail": ", ".join(f"{t} tokens {r:.2f}x" for t, r in zip(toks, ratios)),
            }
        )
    runs = payload["accuracy"]["runs"]
    sizes = sorted({r["image_size"] for r in runs if r["fusion"] == "jar"} & {r["image_size"] for r in runs if r["fusion"] == "concat"})
    if sizes and not payload.get("quick"):
        parts, held = [], True
        for size in sizes:
            acc = {f: [r["test"]["accuracy"] for r in runs if r["fusion"] == f and r["image_size"] == size] for f in ("jar", "concat")}
            j, c = statistics.mean(acc["jar"]), statistics.mean(acc["concat"])
            c_std = statistics.stdev(acc["concat"]) if len(acc["concat"]) > 1 else 0.0
            held &= j >= c - c_std
            parts.append(f"{size}px jar {100 * j:.1f}% vs concat {100 * c:.1f}% +- {100 * c_std:.1f}")
        out.append(
            {
                "finding": "jar test accuracy within one std of concat's or better at every image size",
                "task": "tiny accuracy",
                "held": held,
                "detail": "; ".join(parts) + f" ({len(acc['jar'])} seeds)",
            }
        )
    return out


def write(out: Path, payload: dict, fusions: list[str]) -> None:
    """scaling.json, scaling.md and the plots for what is done so far."""
    payload["findings"] = findings(payload)
    out.mkdir(parents=True, exist_ok=True)
    if payload["cost"]["records"]:
        plot_cost(payload["cost"]["records"], payload["paper_base"], fusions, out / "scaling_cost.png")
    if payload["accuracy"]["runs"]:
        plot_accuracy(payload["accuracy"]["runs"], fusions, out / "scaling_accuracy.png")
    write_results(out, "scaling", payload, markdown(payload, fusions))


def rerender(source: Path, out: Path, fusions: list[str]) -> int:
    """``--from-json``: the page and plots again from saved results; the command stays the original one."""
    saved = json.loads(source.read_text())
    payload = {k: v for k, v in saved.items() if k not in ("command", "machine", "date", "rendered_by")}
    write(out, payload, fusions)
    restore_provenance(out, "scaling", saved)
    print(f"re-wrote {out / 'scaling.md'} from {source}")
    return 0


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    """Run the cost part, then the accuracy runs (writing the results after each); returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["all", "cost", "accuracy"], default="all", help="which part to run (default all)")
    ap.add_argument("--fusions", default=",".join(FUSIONS), help="comma-separated fusions (default concat,jar)")
    ap.add_argument(
        "--cost-sizes", default=",".join(map(str, COST_SIZES)), help="image sizes of the cost part, px (default 32,48,64,96,128)"
    )
    ap.add_argument("--cost-batch", type=int, default=16, help="batch of the cost part's memory and step time (default 16)")
    ap.add_argument("--sizes", default=",".join(map(str, ACCURACY_SIZES)), help="image sizes of the accuracy part, px (default 48,64,96)")
    ap.add_argument("--samples", type=int, default=48_000, help="training samples per accuracy run (default 48000: 750 steps of 64)")
    ap.add_argument(
        "--seeds", type=int, default=1, help="seeds per fusion and size (default 1; each adds ~31 min at the defaults, see --estimate)"
    )
    ap.add_argument("--test-size", type=int, default=1000, help="held-out test questions per run (default 1000)")
    ap.add_argument("--val-samples", type=int, default=300, help="validation questions scored at the end of training (default 300)")
    ap.add_argument(
        "--scenes",
        metavar="QUERY",
        help="synthetic scene options replacing the recipe's, e.g. "
        "'min_objects=1&max_objects=1&families=attribute,exists,count' (default: the demo's 3-6 objects, all families)",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads for training (run.threads; 0: torch's default)")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="extra dotted override of the training recipe (repeatable)"
    )
    ap.add_argument(
        "--flops-json",
        type=Path,
        default=ROOT / "results" / "flops.json",
        help="paper-base records to read (default benchmarks/results/flops.json)",
    )
    ap.add_argument("--run-dir", type=Path, help="where the training runs go (default runs/scaling; --quick: inside --out)")
    ap.add_argument("--out", type=Path, default=ROOT / "results", help="output folder (default benchmarks/results)")
    ap.add_argument("--estimate", action="store_true", help="print the accuracy part's estimated time and exit")
    ap.add_argument("--quick", action="store_true", help="tiny grid, two training steps a run (well under a minute), for tests")
    ap.add_argument("--from-json", type=Path, help="re-write the page and plots from a saved scaling.json, without measuring")
    args = ap.parse_args(argv)
    if args.from_json:
        return rerender(args.from_json, args.out, [f.strip() for f in args.fusions.split(",") if f.strip()])
    fusions = [f.strip() for f in args.fusions.split(",") if f.strip()]
    cost_sizes, sizes = _ints(args.cost_sizes), _ints(args.sizes)
    seeds = list(range(args.seeds))
    repeats = 3
    if args.quick:
        cost_sizes, sizes, seeds, repeats = [32, 64], [48, 64], [0], 1
        args.cost_batch, args.samples, args.test_size, args.val_samples = 2, 128, 40, 20
        args.set = ["data.tokenizer_samples=500", *args.set]
        args.threads = args.threads or 1
    if args.estimate:
        print(f"accuracy part: {len(fusions)} fusions x {len(sizes)} sizes x {len(seeds)} seeds x {args.samples} samples: "
              f"~{estimate_minutes(fusions, sizes, len(seeds), args.samples):.0f} min on 2 cores (+ ~1 min for the cost part)")  # fmt: skip
        return 0
    run_root = args.run_dir or (args.out / "scaling_runs" if args.quick else Path("runs/scaling"))
    do_cost, do_acc = args.part in ("all", "cost"), args.part in ("all", "accuracy")
    if do_acc:
        check_accuracy_configs(fusions, sizes, args)

    start = time.perf_counter()
    paper = paper_base_sizes(args.flops_json, fusions)
    payload = {
        "quick": args.quick,
        "cost": {"preset": "tiny", "batch": args.cost_batch, "repeats": repeats, "records": []},
        "paper_base": paper,
        "accuracy": {"settings": {"samples": args.samples, "batch": 64, "seeds": seeds, "sizes": sizes, "test_size": args.test_size,
                                  "overrides": args.set, "scenes": args.scenes, "planned_runs": len(fusions) * len(sizes) * len(seeds) if do_acc else 0},
                     "runs": []},
    }  # fmt: skip
    if paper is None:
        payload["flops_json_missing"] = str(args.flops_json)
    if do_cost:
        payload["cost"]["records"] = profile_sizes("tiny", fusions, cost_sizes, args.cost_batch, repeats)
        write(args.out, payload, fusions)
    if do_acc:
        payload["accuracy"]["settings"]["batch"] = accuracy_config(fusions[0], sizes[0], 0, args).data.batch_size
        for seed in seeds:
            for size in sizes:
                for fusion in fusions:
                    t = time.perf_counter()
                    print(f"training {fusion} at {size}px, seed {seed} ({args.samples} samples) ...", flush=True)
                    run = train_one(fusion, size, seed, args, run_root / f"{fusion}-{size}px-seed{seed}")
                    payload["accuracy"]["runs"].append(run)
                    print(f"  test {100 * run['test']['accuracy']:.1f}% (text-only {100 * run['text_only']['accuracy']:.1f}%), "
                          f"{run['samples_per_s']:.0f} samples/s, {time.perf_counter() - t:.0f} s; "
                          f"{(time.perf_counter() - start) / 60:.1f} min so far", flush=True)  # fmt: skip
                    write(args.out, payload, fusions)
    payload["elapsed_s"] = round(time.perf_counter() - start, 1)
    write(args.out, payload, fusions)
    print(f"wrote {args.out / 'scaling.md'} in {payload['elapsed_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
