"""Assemble ``benchmarks/results/REPORT.md`` from whatever benchmark results are there (issue #6, part 5).

Reads, each only if present: ``fusions.json`` (benchmarks/fusions.py), ``ablations.json``
(benchmarks/ablations.py), ``flops.json`` (benchmarks/flops.py), ``scaling.json`` and
``gpu_fusions*.json`` (eager, eager rerun, compiled). Writes one page: which of the paper's findings held here and which did not
(computed from the JSON, never typed in), our figures beside the paper's Tables 2-4, the tables
and plots of each benchmark, and the command, machine and date of each.

A benchmark's JSON may carry ``findings``: a list of ``{"finding", "held" (true/false/null),
"detail", "task"?}``; they are listed as they are. Missing or unexpected keys are skipped, never
fatal: a benchmark whose schema changed shows what could be read and a note.

    python benchmarks/report.py [--results benchmarks/results] [--out benchmarks/results/REPORT.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from protocol import PAPER_ABLATIONS, PAPER_FUSIONS, pct, pts  # noqa: E402

SOURCES = ("fusions", "ablations", "flops", "scaling", "train_speed", "gpu_fusions", "gpu_fusions_eager_rerun", "gpu_fusions_compiled")
GPU_SOURCES = SOURCES[5:]
MIN_SPEEDUP = 1.3  # issue #6: jar's training samples/s at least 1.3 x concat's
FUSIONS = ["concat", "cross_attention", "perceiver", "cotokenization", "jar"]
PAPER_MAX_GFLOPS_RATIO = 0.67  # the paper: JAR 38.9 / concat 58.4 GFLOPs


def get(d: Any, *keys, default=None):
    """``d[k1][k2]...`` or ``default`` where any level is missing or not a mapping/list."""
    for k in keys:
        try:
            d = d[k]
        except (KeyError, IndexError, TypeError):
            return default
    return d


def load(results: Path) -> dict[str, dict]:
    """Every source JSON found in ``results`` (name -> data); unreadable files are reported and skipped."""
    out = {}
    for name in SOURCES:
        path = results / f"{name}.json"
        if path.is_file():
            try:
                out[name] = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as err:
                print(f"skipping {path}: {err}", file=sys.stderr)
    return out


def meta(data: dict) -> dict:
    """Command, machine (one line) and date of a results file, from ``common.write_results``'s keys or ``meta``."""
    m = data.get("meta") if isinstance(data.get("meta"), dict) else data
    mach = m.get("machine") or {}
    if isinstance(mach, dict):
        parts = [
            mach.get("cpu") or "unknown CPU",
            f"{mach.get('cores') or mach.get('cpu_count') or '?'} cores",
            f"torch {mach.get('torch', '?')} ({mach.get('threads') or mach.get('torch_threads') or '?'} threads)",
        ]
        if mach.get("cuda"):
            parts.append(f"GPU {mach['cuda']}")
        machine = ", ".join(parts)
    else:
        machine = str(mach)
    return {"command": m.get("command", "?"), "machine": machine, "date": str(m.get("date", "?"))}


def flops_records(data: dict) -> tuple[dict[str, dict], list[tuple[dict, dict]]]:
    """flops.json's fusion records (fusion -> record) and ablation (label, record) pairs."""
    by_id = {r.get("id", i): r for i, r in enumerate(get(data, "records", default=[]) or [])}
    fusions = {f: by_id[i] for f, i in (get(data, "tables", "fusions", default={}) or {}).items() if i in by_id}
    ablation = [
        (lab, by_id[lab["record"]])
        for lab in get(data, "tables", "ablation", default=[]) or []
        if isinstance(lab, dict) and lab.get("record") in by_id
    ]
    return fusions, ablation


# ----------------------------------------------------------------------------- findings


def findings(sources: dict[str, dict]) -> list[dict]:
    """Every finding with a verdict: each source's ``findings`` (or fusions' ``checks`` / ablations'
    ``trends`` when older files lack them), plus flops.json's GFLOPs and memory ratios."""
    out = []
    for name, data in sources.items():
        items = data.get("findings")
        if items is None and name == "fusions":
            items = data.get("checks")
        if items is None and name == "ablations":
            items = [dict(t, task=task) for task, ts in (data.get("trends") or {}).items() for t in ts]
        for f in items or []:
            if isinstance(f, dict) and "finding" in f:
                out.append(
                    {"source": name, "finding": f["finding"], "task": f.get("task"), "held": f.get("held"), "detail": f.get("detail", "")}
                )
    if "flops" in sources:
        recs, _ = flops_records(sources["flops"])
        c, j = recs.get("concat"), recs.get("jar")
        preset = get(sources["flops"], "meta", "grid", "preset", default="?")
        if c and j and c.get("gflops") and j.get("gflops") is not None:
            g = j["gflops"] / c["gflops"]
            out.append(
                {
                    "source": "flops",
                    "finding": f"jar GFLOPs per sample <= {PAPER_MAX_GFLOPS_RATIO} x concat's",
                    "task": preset,
                    "held": g <= PAPER_MAX_GFLOPS_RATIO,
                    "detail": f"{j['gflops']:.1f} / {c['gflops']:.1f} GFLOPs = {g:.2f}x (paper: 38.9 / 58.4 = 0.67x)",
                }
            )
        if c and j and c.get("activation_mb") and j.get("activation_mb") is not None:
            a, paper = j["activation_mb"] / c["activation_mb"], PAPER_FUSIONS["jar"]["memory_gb"] / PAPER_FUSIONS["concat"]["memory_gb"]
            out.append(
                {
                    "source": "flops",
                    "finding": f"jar training memory <= {paper:.2f} x concat's (paper: 9 / 15 GB)",
                    "task": preset,
                    "held": a <= paper,
                    "detail": f"activations {j['activation_mb']:.0f} / {c['activation_mb']:.0f} MB = {a:.2f}x",
                }
            )
    out += train_speed_findings(get(sources, "train_speed", "rows", default=[]) or [])
    for name in GPU_SOURCES:
        recs = {r["fusion"]: r for r in get(sources, name, "records", default=[]) or [] if r.get("status") == "ok"}
        c, j = recs.get("concat"), recs.get("jar")
        if c and j and c.get("train_samples_per_s"):
            sp = j["train_samples_per_s"] / c["train_samples_per_s"]
            mode = "compiled" if get(sources, name, "settings", "compile") else "eager"
            out.append(
                {
                    "source": name,
                    "finding": f"jar training samples/s >= {MIN_SPEEDUP} x concat's",
                    "task": f"{get(sources, name, 'settings', 'preset')} on {sources[name].get('device_name', 'GPU')}, {mode}",
                    "held": sp >= MIN_SPEEDUP,
                    "detail": f"{j['train_samples_per_s']:.1f} / {c['train_samples_per_s']:.1f} samples/s = {sp:.2f}x "
                    f"at batch {j.get('batch')}, bf16",
                }
            )
    return out


def train_speed_findings(rows: list) -> list[dict]:
    """train_speed.json's jar/concat samples/s verdicts: eager end to end, and compiled when it was measured."""
    speed = {r.get("fusion"): r for r in rows if isinstance(r, dict)}
    c, j = speed.get("concat"), speed.get("jar")
    if not (c and j and c.get("trainer_samples_per_s")):
        return []
    where = f"tiny on {j.get('threads', '?')} CPU threads"
    finding = f"jar training samples/s >= {MIN_SPEEDUP} x concat's"
    sp = j["trainer_samples_per_s"] / c["trainer_samples_per_s"]
    detail = f"{j['trainer_samples_per_s']:.0f} / {c['trainer_samples_per_s']:.0f} samples/s = {sp:.2f}x"
    if c.get("model_samples_per_s"):
        detail += f"; the model step alone {j['model_samples_per_s'] / c['model_samples_per_s']:.2f}x"
        if c.get("model_samples_per_s_1_thread"):
            detail += f", on one thread {j['model_samples_per_s_1_thread'] / c['model_samples_per_s_1_thread']:.2f}x"
    out = [
        {
            "source": "train_speed",
            "finding": finding,
            "task": f"{where}, trainer end to end, alone on the machine",
            "held": sp >= MIN_SPEEDUP,
            "detail": detail,
        }
    ]
    jc, cc = j.get("trainer_samples_per_s_compiled"), c.get("trainer_samples_per_s_compiled")
    if jc and cc:
        detail = f"{jc:.0f} / {cc:.0f} samples/s = {jc / cc:.2f}x"
        slower = [
            f"{n}: {x['trainer_samples_per_s_compiled']:.0f} vs {x['trainer_samples_per_s']:.0f}"
            for n, x in (("jar", j), ("concat", c))
            if x["trainer_samples_per_s_compiled"] < x["trainer_samples_per_s"]
        ]
        if slower:
            detail += f" (compiled is slower than eager here for {', '.join(slower)}; the eager ratio is the one a CPU user gets)"
        out.append(
            {
                "source": "train_speed",
                "finding": finding,
                "task": f"{where}, trainer with run.compile=true",
                "held": jc / cc >= MIN_SPEEDUP,
                "detail": detail,
            }
        )
    return out


def findings_section(items: list[dict]) -> str:
    """'Which findings held' in plain words: held, did not hold, not measured."""
    if not items:
        return "No benchmark results were found, so no finding could be checked.\n"
    groups = {True: "Held here", False: "Did not hold here", None: "Not measured"}
    lines = []
    for held, title in groups.items():
        part = [f for f in items if f["held"] is held or (held is None and f["held"] not in (True, False))]
        if part:
            lines.append(f"**{title}** ({len(part)}):\n")
            lines += [
                f"- {f['finding']}" + (f" ({f['task']})" if f.get("task") else "") + f": {f['detail']} [`{f['source']}.json`]" for f in part
            ]
            lines.append("")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- sections


def fusions_section(data: dict) -> str:
    """Our fusions beside the paper's Tables 2-3, per task, with the plots."""
    summary = data.get("summary") or {}
    lines = []
    for task, arms in summary.items():
        key = "gqa" if task == "vqa" else "snli_ve"
        concat = get(arms, "concat", "gflops")
        paper_c = PAPER_FUSIONS["concat"]["gflops"]
        lines += [
            f"**{task}** ({get(data, 'settings', 'budget_samples', default='?')} training samples per run, "
            f"{get(data, 'settings', 'seeds', default='?')} seeds)\n",
            f"| fusion | our test acc. | our comp acc. | our GFLOPs | ours x concat | our samples/s | paper GFLOPs | paper x concat "
            f"| paper {key.upper().replace('_', '-')} |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for f in [f for f in FUSIONS if f in arms] + [a for a in arms if a not in FUSIONS]:
            s, p = arms[f], PAPER_FUSIONS.get(f, {})
            gf = s.get("gflops")
            lines.append(
                f"| {f} | {pct(get(s, 'test', 'mean'))} +- {pts(get(s, 'test', 'std'))} | {pct(get(s, 'comp', 'mean'))} +- {pts(get(s, 'comp', 'std'))} "
                f"| {num(gf, 4)} | {ratio(gf, concat)} | {num(get(s, 'samples_per_s', 'mean'), 0)} "
                f"| {p.get('gflops', '-')} | {ratio(p.get('gflops'), paper_c)} | {p.get(key, '-')} |"
            )
        base = get(data, "results", "text_only", task, "test")
        lines.append(f"\nText-only baseline: {pct(base)}.\n")
    return "\n".join(lines) + plots_md(data) + link_md("fusions")


def ablations_section(data: dict) -> str:
    """Our ablations beside the paper's Table 4, and the trend verdicts."""
    summary, base = data.get("summary") or {}, data.get("base_knobs") or {}
    lines = []
    for task, arms in summary.items():
        b = get(arms, "base", "gflops")
        lines += [
            f"**{task}**\n",
            "| knob | value | our test acc. | our GFLOPs | ours x recipe | paper GFLOPs | paper GQA |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for knob, values in (data.get("knobs") or {}).items():
            paper = PAPER_ABLATIONS.get(knob, {})
            for v in values:
                s = arms.get("base" if base.get(knob) == v else f"{knob}={v}")
                if not s:
                    continue
                pg, pa = paper.get(v, (None, None))
                lines.append(
                    f"| {knob} | {v}{' (recipe)' if base.get(knob) == v else ''} | {pct(get(s, 'test', 'mean'))} +- "
                    f"{pts(get(s, 'test', 'std'))} | {num(s.get('gflops'), 4)} | {ratio(s.get('gflops'), b)} | "
                    f"{'-' if pg is None else pg} | {'-' if pa is None else pa} |"
                )
        lines.append(
            "\nPaper's values at its own scale: tokens N 16-128 and 16/32 fusion layers; ours are scaled to the tiny "
            "model, so rows match by position in the sweep, not by number.\n"
        )
    return "\n".join(lines) + plots_md(data) + link_md("ablations")


def flops_section(data: dict) -> str:
    """flops.json's five fusions at its preset, beside the paper's GFLOPs."""
    recs, _ = flops_records(data)
    if not recs:
        return "flops.json has no fusion records that could be read.\n" + link_md("flops")
    c = get(recs, "concat", "gflops")
    lines = [
        f"Preset `{get(data, 'meta', 'grid', 'preset', default='?')}`, forward GFLOPs per sample (2 x MACs), "
        "activation MB of one training step.\n",
        "| fusion | our GFLOPs | ours x concat | act. MB | paper GFLOPs | paper x concat |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for f, r in recs.items():
        p = PAPER_FUSIONS.get(f, {}).get("gflops")
        lines.append(
            f"| {f} | {num(r.get('gflops'), 1)} | {ratio(r.get('gflops'), c)} | {num(r.get('activation_mb'), 0)} | "
            f"{'-' if p is None else p} | {ratio(p, PAPER_FUSIONS['concat']['gflops'])} |"
        )
    return "\n".join(lines) + "\n\n" + link_md("flops")


def gpu_section(data: dict, name: str = "gpu_fusions") -> str:
    """gpu_fusions*.json: training throughput, peak memory and generate latency per fusion, x concat."""
    recs = {r["fusion"]: r for r in get(data, "records", default=[]) or [] if r.get("status") == "ok"}
    base = recs.get("concat", {})
    compiled = bool(get(data, "settings", "compile"))
    lines = [
        f"`{get(data, 'settings', 'preset', default='paper-base')}` on {data.get('device_name', 'a GPU')} "
        f"(torch {data.get('torch', '?')}), bf16 autocast, {'torch.compile' if compiled else 'eager'}, "
        f"batch {get(data, 'settings', 'batch', default='?')}, random inputs (no data pipeline).\n",
        "| fusion | train samples/s | x concat | peak GB | x concat | generate b=1 ms | fwd GFLOPs/sample |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for f, r in recs.items():
        lines.append(
            f"| {f} | {num(r.get('train_samples_per_s'), 1)} | {ratio(r.get('train_samples_per_s'), base.get('train_samples_per_s'))} "
            f"| {num(r.get('train_peak_gb'), 1)} | {ratio(r.get('train_peak_gb'), base.get('train_peak_gb'))} "
            f"| {num(get(r, 'generate', '1', 'ms_median'), 1)} | {num(r.get('gflops_forward'), 1)} |"
        )
    jar = recs.get("jar")
    if jar and base:
        fl = ratio(jar.get("gflops_forward"), base.get("gflops_forward"))
        sp = ratio(jar.get("train_samples_per_s"), base.get("train_samples_per_s"))
        if compiled:
            lines.append(
                f"\nCompiled, JAR does {fl} concat's FLOPs and trains at {sp} its samples/s: compilation removes "
                "much of the per-operation overhead that held it back in eager mode, but its step still runs "
                "at a lower fraction of the chip's peak than concat's (the TFLOP/s column of the full page).\n"
            )
        else:
            lines.append(
                f"\nJAR does {fl} concat's FLOPs but trains at {sp} its samples/s here: at this batch, eager, "
                "every fusion runs far below the chip's bf16 peak (the TFLOP/s column of the full page), so fewer "
                "FLOPs do not make the step faster.\n"
            )
    return "\n".join(lines) + "\n" + link_md(name)


def generic_section(name: str, data: dict, results: Path) -> str:
    """A results file of a layout this page does not know (scaling, gpu_fusions): each list of
    records it holds (``rows``/``records``/``runs``, at the top or one level down) as a table of
    its scalar fields, then its plots and a link to its own page."""
    tables = []
    for key, value in [("", data), *((k, v) for k, v in data.items() if isinstance(v, dict))]:
        for field in ("rows", "records", "runs"):
            rows = value.get(field)
            if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
                tables.append((f"{key}.{field}" if key else field, [flat(r) for r in rows]))
    lines = []
    for title, rows in tables:
        cols = [k for k in rows[0] if all(isinstance(r.get(k), (int, float, str, type(None))) for r in rows)][:12]
        if not cols:
            continue
        lines += [f"`{title}`:\n", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(cell(r.get(k)) for k in cols) + " |" for r in rows[:40]]
        lines.append(f"\n({len(rows) - 40} more rows in `{name}.json`.)\n" if len(rows) > 40 else "")
    if not lines:
        lines.append(f"(`{name}.json` holds no list of records this page can read; see its own page.)")
    plots = data.get("plots") if isinstance(data.get("plots"), list) else sorted(p.name for p in results.glob(f"{name}*.png"))
    return "\n".join(lines) + "\n\n" + "".join(f"![{p}]({p})\n\n" for p in plots if isinstance(p, str)) + link_md(name)


def flat(row: dict) -> dict:
    """A record with its nested mappings spelled out one level down (``test.accuracy``)."""
    out = {}
    for k, v in row.items():
        if isinstance(v, dict):
            out.update({f"{k}.{kk}": vv for kk, vv in v.items() if not isinstance(vv, (dict, list))})
        elif not isinstance(v, list):
            out[k] = v
    return out


def plots_md(data: dict) -> str:
    """Markdown image links to the PNGs a results file names."""
    return "\n" + "".join(f"![{p}]({p})\n\n" for p in data.get("plots") or [] if isinstance(p, str))


def link_md(name: str) -> str:
    """A pointer to the benchmark's own page and data."""
    return f"Full tables: [`{name}.md`]({name}.md), data: [`{name}.json`]({name}.json).\n"


def num(v: Any, digits: int) -> str:
    """A number with ``digits`` decimals, '-' for None."""
    return "-" if not isinstance(v, (int, float)) else f"{v:.{digits}f}"


def ratio(a: Any, b: Any) -> str:
    """'0.667x' (3 decimals: the issue's threshold is 0.67) or '-' when either is missing."""
    return f"{a / b:.3f}x" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "-"


def cell(v: Any) -> str:
    """A table cell: floats to 4 significant digits."""
    return f"{v:.4g}" if isinstance(v, float) else ("-" if v is None else str(v))


TITLES = {
    "fusions": "1. Fusions compared (the paper's Tables 2-3, Figure 1)",
    "ablations": "2. JAR ablations (the paper's Table 4)",
    "flops": "3. FLOPs and memory at the paper's model size",
    "scaling": "4. Scaling",
    "train_speed": "4b. Training speed on this CPU, measured alone",
    "gpu_fusions": "5. Fusions on a GPU (eager, all five)",
    "gpu_fusions_eager_rerun": "5b. concat and JAR on a GPU, eager (rerun on the machine of 5c)",
    "gpu_fusions_compiled": "5c. concat and JAR on a GPU, torch.compile",
}


def build(results: Path) -> str:
    """The whole REPORT.md text from the JSON files in ``results``."""
    sources = load(results)
    lines = [
        "# Reproducing the paper's comparisons at small scale\n",
        f"Assembled by `python benchmarks/report.py` on {datetime.date.today().isoformat()} from "
        + (", ".join(f"`{n}.json`" for n in sources) if sources else "no results files")
        + " in this folder. Every number "
        "below is read from those files; every verdict is computed from them. The paper's figures are from PAPER.md "
        "(a TPU-scale model on GQA and SNLI-VE); ours are a tiny model on synthetic data on a CPU, so compare the "
        "*shape* (ratios, orderings), not the values.\n",
        "## Which of the paper's findings held here\n",
        findings_section(findings(sources)),
    ]
    render = {"fusions": fusions_section, "ablations": ablations_section, "flops": flops_section}
    for name, data in sources.items():
        lines.append(f"## {TITLES.get(name, name)}\n")
        try:
            if name in GPU_SOURCES:
                lines.append(gpu_section(data, name))
            else:
                lines.append(render[name](data) if name in render else generic_section(name, data, results))
        except Exception as err:  # a changed schema must not sink the whole report
            lines.append(f"(Could not read `{name}.json` ({type(err).__name__}: {err}); see [`{name}.md`]({name}.md).)\n")
    lines += ["## Commands, machines and dates\n", "| results | command | machine | date |", "|---|---|---|---|"]
    for name, data in sources.items():
        m = meta(data)
        lines.append(f"| `{name}.json` | `{m['command']}` | {m['machine']} | {m['date']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=Path(__file__).parent / "results", help="folder of the results JSON files")
    ap.add_argument("--out", type=Path, help="the page to write (default RESULTS/REPORT.md)")
    args = ap.parse_args(argv)
    out = args.out or args.results / "REPORT.md"
    out.write_text(build(args.results))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
