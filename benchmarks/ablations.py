"""JAR's ablations, as the paper's Table 4, trained under one protocol (issue #6, part 2).

One knob of the recipe's JAR (the tiny preset: N = 16 tokens, 2 iterations, 4 fusion layers,
latent resampling, weighted combination) is varied at a time, every arm trained with the demo
recipe on the same data for the same number of samples and seeds (``benchmarks/protocol.py``):

    iterations   1 / 2 / 4 / 8     (fusion.layers stays 4: at 8 iterations it is one layer each, so 8)
    num_tokens   8 / 16 / 32 / 64  (the paper's 16-128, scaled to the tiny model)
    resampling   latent / spatial
    combine      weighted / residual / none
    layers       2 / 4 / 8         (fusion depth; the paper's 16 / 32)

and states for each of the paper's trends whether it reproduced, with the numbers and seeds:
latent >= spatial; weighted > residual > none; diminishing returns in iterations and in tokens
(more helps, and the last doubling gains less than the first); deeper fusion helps.

Writes ``ablations.md``, ``ablations.json`` and ``ablations.png`` (a bar chart per knob) into ``--out``.

Duration of the defaults: 12 arms x 1 task (VQA) x 3 seeds = 36 runs of 12,800 samples; at ~190
samples/s and ~18 s overhead per run, about 51 minutes on 2 cores (the estimate is printed at
start; ``--estimate`` prints it and exits). ``--knobs`` runs part of the table; ``--merge`` adds
it to the results already in ``--out``.

    python benchmarks/ablations.py                                  # the full table (~51 min)
    python benchmarks/ablations.py --knobs combine --merge          # redo one knob
    python benchmarks/ablations.py --from-json benchmarks/results/ablations.json
    python benchmarks/ablations.py --quick --out /tmp/ablations     # seconds; for the test
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import protocol as P  # noqa: E402
import protocol_cli as C  # noqa: E402
from common import write_results  # noqa: E402
from plots_bench import ablation_bars  # noqa: E402
from protocol import pct, pts, verdict  # noqa: E402

KNOBS: dict[str, list] = {
    "iterations": [1, 2, 4, 8],
    "num_tokens": [8, 16, 32, 64],
    "resampling": ["latent", "spatial"],
    "combine": ["weighted", "residual", "none"],
    "layers": [2, 4, 8],
}
QUICK_KNOBS = {"iterations": [1, 2], "resampling": ["latent", "spatial"], "combine": ["weighted", "none"]}
QUICK = P.Protocol(
    budget_samples=48,
    seeds=1,
    eval_samples=12,
    val_samples=8,
    curve_points=1,
    threads=1,
    latency_repeats=1,
    overrides=["data.batch_size=16", "data.tokenizer_samples=300", "data.num_workers=0"],
)
BASE = "base"  # the recipe's JAR, unchanged: the row of every knob's default value


def base_knobs(proto: P.Protocol) -> dict:
    """The recipe's fusion settings (after ``--set`` overrides): the value each knob has when not varied."""
    from jarvl.config import apply_overrides

    f = apply_overrides(P.recipe(), proto.overrides).model.fusion
    return {k: getattr(f, k) for k in KNOBS}


def plan(knobs: dict[str, list], base: dict) -> list[P.Arm]:
    """The base arm and one arm per knob value that differs from the base (each knob varied alone)."""
    arms = [P.Arm(BASE, "jar")]
    for knob, values in with_base(knobs, base, {"runs": []}).items():
        arms += [P.Arm(f"{knob}={v}", "jar", {knob: v}) for v in values if v != base[knob]]
    return arms


def rows(arms: dict, knob: str, values: list, base: dict) -> list[tuple]:
    """(value, summary or None) for each value of ``knob``: the base arm stands for the default value."""
    return [(v, arms.get(BASE if v == base[knob] else f"{knob}={v}")) for v in values]


def compare(a: dict, b: dict) -> dict:
    """Mean difference of test accuracy a - b, and whether it exceeds the larger of the two stds."""
    diff = a["test"]["mean"] - b["test"]["mean"]
    return {"diff": diff, "beyond_noise": abs(diff) > max(a["test"]["std"], b["test"]["std"])}


def describe(pairs: list[tuple]) -> str:
    """'latent 71.2% +- 1.0, spatial 69.9% +- 2.1' (3 seeds)."""
    n = {len(s["test"]["values"]) for _, s in pairs}
    return (
        ", ".join(f"{v}: {pct(s['test']['mean'])} +- {pts(s['test']['std'])}" for v, s in pairs)
        + f" ({'/'.join(str(k) for k in sorted(n))} seeds)"
    )


def trends(arms: dict, base: dict, knobs: dict[str, list]) -> list[dict]:
    """The paper's Table 4 trends, each judged on the means of test accuracy over seeds.

    ``held``: the trend holds on the means (None when an arm is missing); ``beyond_noise``: every
    difference it rests on exceeds the larger standard deviation of the two arms compared.
    """
    out = []

    def got(knob: str, values: list) -> list[tuple] | None:
        pairs = rows(arms, knob, values, base) if knob in knobs else []
        return pairs if pairs and all(s for _, s in pairs) else None

    def add(finding: str, paper: str, pairs: list[tuple] | None, held_fn, diffs_fn) -> None:
        if pairs is None:
            out.append({"finding": finding, "paper": paper, "held": None, "beyond_noise": None, "detail": "not run"})
            return
        diffs = diffs_fn(pairs)
        out.append(
            {
                "finding": finding,
                "paper": paper,
                "held": bool(held_fn(pairs)),
                "beyond_noise": all(d["beyond_noise"] for d in diffs),
                "detail": describe(pairs),
                "values": {str(v): s["test"]["values"] for v, s in pairs},
                "seeds": sorted({k for _, s in pairs for k in s["seeds"]}),
            }
        )

    chain = lambda p: [compare(p[i][1], p[i + 1][1]) for i in range(len(p) - 1)]  # noqa: E731
    add(
        "latent >= spatial resampling",
        "latent 79.1, spatial 78.9",
        got("resampling", ["latent", "spatial"]),
        lambda p: p[0][1]["test"]["mean"] >= p[1][1]["test"]["mean"],
        chain,
    )
    add(
        "weighted > residual > none combination",
        "weighted 79.1, residual 78.7, none 78.1",
        got("combine", ["weighted", "residual", "none"]),
        lambda p: all(d["diff"] > 0 for d in chain(p)),
        chain,
    )
    for knob, paper in (("iterations", "1/2/4/8: 78.3, 78.8, 79.1, 79.2"), ("num_tokens", "16/32/64/128: 76.5, 78.3, 79.1, 79.2")):
        pairs = got(knob, sorted(knobs.get(knob, [])))
        pairs = pairs if pairs and len(pairs) >= 3 else None  # a return diminishes only over two steps or more
        add(
            f"diminishing returns in {knob.replace('num_tokens', 'tokens N')}",
            paper,
            pairs,
            diminishing,
            lambda p: [compare(p[-1][1], p[0][1])],
        )
        if pairs:
            gains = [-d["diff"] for d in chain(pairs)]
            out[-1]["gains_points"] = [round(100 * g, 2) for g in gains]
            out[-1]["detail"] += "; gains per step: " + ", ".join(f"{100 * g:+.1f}" for g in gains) + " points"
    layers = got("layers", sorted(knobs.get("layers", [])))
    # Every step deeper must help (as weighted > residual > none: the whole chain), not only the deepest beat the shallowest.
    deeper = lambda p: [compare(p[i + 1][1], p[i][1]) for i in range(len(p) - 1)]  # noqa: E731
    add(
        "deeper fusion helps (each step deeper)",
        "16 layers 78.3, 32 layers 79.1",
        layers,
        lambda p: all(d["diff"] > 0 for d in deeper(p)),
        deeper,
    )
    return out


def diminishing(pairs: list[tuple]) -> bool:
    """More of the knob helps (largest value beats the smallest) and the last step gains less than the first."""
    acc = [s["test"]["mean"] for _, s in pairs]
    gains = [b - a for a, b in zip(acc, acc[1:])]
    return acc[-1] > acc[0] and gains[-1] < gains[0]


def table(arms: dict, knob: str, values: list, base: dict) -> str:
    """Markdown rows of one knob: accuracy, cost and the paper's figures per value."""
    b = arms.get(BASE)
    paper = P.PAPER_ABLATIONS.get(knob, {})
    lines = [
        f"| {knob} | test acc. | comp acc. | GFLOPs/sample | x base | params | act. MB/step | samples/s | fusion layers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v, s in rows(arms, knob, values, base):
        mark = " (recipe)" if v == base[knob] else ""
        if s is None:
            lines.append(f"| {v}{mark} | not run | | | | | | | |")
            continue
        ratio = f"{s['gflops'] / b['gflops']:.2f}x" if b else "-"
        lines.append(
            f"| {v}{mark} | {pct(s['test']['mean'])} +- {pts(s['test']['std'])} | {pct(s['comp']['mean'])} +- {pts(s['comp']['std'])} "
            f"| {s['gflops']:.4f} | {ratio} | {s['params'] / 1e6:.2f}M | {s['activation_mb']:.0f} "
            f"| {s['samples_per_s']['mean']:.0f} | {s['fusion_layers']} |"
        )
    if paper:
        lines.append("\nPaper (GFLOPs / GQA): " + ", ".join(f"{v}: {g} / {a}" for v, (g, a) in paper.items()) + ".")
    return "\n".join(lines)


def markdown(payload: dict) -> str:
    """The results page: protocol, trend verdicts, one table per knob, the bar chart, per-seed numbers."""
    st, summary, base, knobs = payload["settings"], payload["summary"], payload["base_knobs"], payload["knobs"]
    lines = [
        f"# JAR ablations (Table 4) under one protocol: tiny preset, {st['budget_samples']:,} training samples per run\n",
        f"Each arm varies one knob of the recipe's JAR ({', '.join(f'{k} {v}' for k, v in base.items())}); everything else is "
        f"the demo recipe (batch {st['batch_size']}, lr {st['lr']:g}, gates at {st['gate_init']:g}, {st['steps']} steps), the same "
        f"data and seeds. Scenes of {st['min_objects']}-{st['max_objects']} objects, VQA families `{st['families']}`; "
        f"held-out: {st['eval_samples']} questions of `test` and of the compositional `comp` split. Mean +- std over seeds"
        + (f"; recipe overrides: `{' '.join(st['overrides'])}`" if st["overrides"] else "")
        + ".\n",
        "A trend *held* when the means over seeds follow it; *beyond noise* when every difference it rests on is larger "
        "than the larger standard deviation of the two arms compared. Diminishing returns: the largest value beats the "
        "smallest, and the last doubling gains less than the first.\n",
    ]
    for task, arms in summary.items():
        prior = payload["results"]["text_only"].get(task, {})
        lines += [
            f"## {task}: the paper's trends\n",
            "| trend | paper (GQA) | ours (test accuracy) | held | beyond noise |",
            "|---|---|---|---|---|",
        ]
        for t in payload["trends"][task]:
            lines.append(f"| {t['finding']} | {t['paper']} | {t['detail']} | {verdict(t['held'])} | {verdict(t['beyond_noise'])} |")
        lines.append(
            f"\nText-only baseline (majority training answer of each exact prompt): test {pct(prior.get('test'))}, "
            f"comp {pct(prior.get('comp'))}.\n"
        )
        for knob, values in knobs.items():
            lines += [f"### {task}: {knob}\n", table(arms, knob, values, base) + "\n"]
        capped = [a for a, s in arms.items() if s["capped"]]
        if capped:
            lines.append(f"**Stopped by --minutes-per-run before the budget: {', '.join(capped)}** (their accuracy is not comparable).\n")
    lines += [
        "## Plot\n",
        *[f"![{p}]({p})\n" for p in payload["plots"]],
        "## Per seed (test accuracy)\n",
        "| task | arm | " + " | ".join(f"seed {s}" for s in range(st["seeds"])) + " |",
        "|---|---|" + "---:|" * st["seeds"],
    ]
    for task, arms in summary.items():
        for a, s in arms.items():
            by_seed = dict(zip(s["seeds"], s["test"]["values"]))
            lines.append(f"| {task} | {a} | " + " | ".join(pct(by_seed.get(k)) for k in range(st["seeds"])) + " |")
    calls = C.provenance(payload["results"])  # '' unless several invocations were merged
    return "\n".join(lines) + "\n" + (f"\n{calls}" if calls else "")


def plots(summary: dict, knobs: dict, base: dict, text_only: dict, out: Path, name: str) -> list[str]:
    """One bar chart PNG per task (a panel per knob); their file names."""
    files = []
    for task, arms in summary.items():
        groups = {}
        for knob, values in knobs.items():
            bars = [
                {"value": v, "mean": s["test"]["mean"], "std": s["test"]["std"], "gflops": s["gflops"], "default": v == base[knob]}
                for v, s in rows(arms, knob, values, base)
                if s
            ]
            if bars:
                groups[knob] = bars
        f = f"{name}.png" if len(summary) == 1 else f"{name}_{task}.png"
        ablation_bars(
            groups,
            out / f,
            baseline=text_only.get(task, {}).get("test"),
            title=f"JAR ablations, {task}: held-out accuracy, mean +- std over seeds (outlined: the recipe's value)",
        )
        files.append(f)
    return files


def with_base(knobs: dict[str, list], base: dict, results: dict) -> dict[str, list]:
    """The knobs to tabulate: those asked for and those already in ``results`` (after --merge), each
    with the recipe's value among its values (numbers in order)."""
    grid = dict(knobs)
    for r in results["runs"]:
        knob = r["arm"].split("=", 1)[0]
        if knob in KNOBS and knob not in grid:
            grid[knob] = KNOBS[knob]
    out = {}
    for knob, values in grid.items():
        values = list(values) + ([base[knob]] if base[knob] not in values else [])
        out[knob] = sorted(values) if all(isinstance(v, (int, float)) for v in values) else values
    return out


def render_with(knobs: dict[str, list], base: dict):
    """A render function (for ``protocol_cli.run_benchmark``) that knows the knob grid and the base values."""

    def render(out: Path, name: str, st: dict, results: dict, elapsed_min: float) -> dict:
        summary = P.summarise(results)
        grid = with_base(knobs, base, results)
        payload = {
            "settings": {**st, "knobs": grid},
            "minutes": elapsed_min,
            "knobs": grid,
            "base_knobs": base,
            "results": results,
            "summary": summary,
            "trends": {task: trends(arms, base, grid) for task, arms in summary.items()},
        }
        out.mkdir(parents=True, exist_ok=True)
        payload["plots"] = plots(summary, grid, base, results["text_only"], out, name) if summary else []
        payload["findings"] = [
            {"finding": t["finding"], "task": task, "held": t["held"], "detail": t["detail"]}
            for task, ts in payload["trends"].items()
            for t in ts
        ]
        write_results(out, name, payload, markdown(payload))
        return payload

    return render


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--knobs", "--only", dest="knobs", default=",".join(KNOBS), help=f"comma-separated (default all: {','.join(KNOBS)})")
    ap.add_argument("--tasks", default="vqa", help=f"comma-separated of {','.join(P.TASKS)} (default vqa, as the paper's GQA)")
    ap.add_argument("--quick", action="store_true", help="3 knobs of 2 values, 48 samples, 1 seed (seconds; for the test)")
    C.add_output_arguments(ap)
    C.add_arguments(ap, P.Protocol())
    args = ap.parse_args(argv)
    name = "ablations_quick" if args.quick else "ablations"
    if args.from_json:
        import json

        saved = json.loads(args.from_json.read_text())
        return C.rerender(args, name, render_with(saved["knobs"], saved["base_knobs"]))
    if args.quick:
        proto, knobs, tasks = QUICK, QUICK_KNOBS, ["vqa"]
    else:
        proto = C.protocol_from_args(args)
        knobs = {k: KNOBS[k] for k in C.split_names(args.knobs, list(KNOBS), ap)}
        tasks = C.split_names(args.tasks, list(P.TASKS), ap)
    base = base_knobs(proto)
    C.run_benchmark(ap, args, name, plan(knobs, base), tasks, proto, render_with(knobs, base))


if __name__ == "__main__":
    main()
