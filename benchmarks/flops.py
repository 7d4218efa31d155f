"""FLOPs and activation memory of every fusion, measured beside the paper's Tables 2-4.

Three tables, all from ``jarvl.profiling`` records (``profile_one``, one fresh spawned process
per record so each record's peak memory is its own, as ``jarvl profile`` does):

1. the five fusions at the preset's image size: GFLOPs per sample split into image / text /
   fusion / decoder, parameters, activation memory, step peak, latency; ratios to concat;
2. JAR's ablation grid (iterations with the total layers fixed, tokens N, latent vs spatial
   resampling, fusion layers), beside the paper's Table 4 GFLOPs;
3. the five fusions at larger images (more image tokens): how FLOPs and memory grow.

GFLOPs are per sample, forward pass, FLOPs = 2 x multiply-adds (PAPER.md; the paper's convention
is unknown). ``activation_mb`` is what autograd saves for backward in one fp32 training step of
the whole batch. Writes ``flops.json`` (records + machine metadata) and ``flops.md`` (tables and
an analysis whose numbers are all formatted in from the measurements) into ``--out``.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/flops.py            # paper-base, ~20 min on 2 cores
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/flops.py --quick --out /tmp/flops   # tiny, ~15 s
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/flops.py --from-json benchmarks/results/flops.json  # re-write the page

``--quick`` profiles in two reused worker processes (its peak memory and latency are not clean).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import multiprocessing
import os
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

FUSIONS = ["concat", "cross_attention", "perceiver", "cotokenization", "jar"]

# The paper's figures (PAPER.md, Tables 2-4), GFLOPs in the paper's unstated convention.
PAPER_GF = {"concat": 58.4, "perceiver": 40.3, "cotokenization": 43.8, "jar": 38.9}
PAPER_MEMORY_GB = {"concat": 15.0, "jar": 9.0}
PAPER_ABLATION_GF = {
    ("iterations", 1): 34.2, ("iterations", 2): 35.5, ("iterations", 4): 38.9, ("iterations", 8): 42.5,
    ("num_tokens", 16): 18.5, ("num_tokens", 32): 28.4, ("num_tokens", 64): 38.9, ("num_tokens", 128): 72.9,
    ("resampling", "latent"): 38.9, ("resampling", "spatial"): 42.5,
    ("layers", 16): 30.5, ("layers", 32): 38.9,
}  # fmt: skip


@dataclass
class Grid:
    """What to profile. ``ablation``: fusion knob -> values, each varied alone from the preset's jar."""

    preset: str
    text_len: int
    target_len: int
    batch: int
    sizes: list[int]
    ablation: dict[str, list] = field(default_factory=dict)
    repeats: int = 2


FULL = Grid(
    "paper-base", text_len=32, target_len=8, batch=2, sizes=[224, 384, 512],
    ablation={"iterations": [1, 2, 4, 8], "num_tokens": [16, 32, 64, 128], "resampling": ["latent", "spatial"], "layers": [16, 32]},
)  # fmt: skip
QUICK = Grid(
    "tiny", text_len=16, target_len=8, batch=2, sizes=[64, 128],
    ablation={"iterations": [1, 2], "num_tokens": [8, 16], "resampling": ["latent", "spatial"], "layers": [2, 4]},
)  # fmt: skip


@dataclass
class Request:
    """One cell of a table: which record it needs and where it goes."""

    table: str  # "fusions" | "ablation" | "sizes"
    fusion: str
    overrides: list[str]
    batch: int
    timing: bool
    labels: dict = field(default_factory=dict)


def plan(grid: Grid, size_batch: int) -> list[Request]:
    """Every record the three tables need, table 1 first (it alone is timed, the others reuse it)."""
    base_size = _preset_cfg(grid.preset, "jar").vision.image_size
    reqs = [Request("fusions", f, [], grid.batch, True) for f in FUSIONS]
    for knob, values in grid.ablation.items():
        for v in values:
            reqs.append(Request("ablation", "jar", [f"fusion.{knob}={v}"], grid.batch, False, {"knob": knob, "value": v}))
    for size in grid.sizes:
        batch = grid.batch if size == base_size else size_batch
        for f in FUSIONS:
            reqs.append(Request("sizes", f, [f"vision.image_size={size}"], batch, False, {"size": size}))
    return reqs


def _preset_cfg(preset: str, fusion: str, overrides: list[str] | None = None):
    from jarvl.config import apply_overrides
    from jarvl.models import get_preset

    return apply_overrides(get_preset(preset, fusion), overrides or []).validate()


def config_key(grid: Grid, req: Request) -> str:
    """Identical model configs at the same batch are profiled once (e.g. the headline JAR)."""
    from jarvl.config import to_dict

    return json.dumps([to_dict(_preset_cfg(grid.preset, req.fusion, req.overrides)), req.batch], sort_keys=True)


def profile_all(grid: Grid, reqs: list[Request], jobs: int, fresh: bool = True) -> tuple[list[dict], list[dict]]:
    """Profile each distinct config once in spawned processes, ``jobs`` at a time.

    ``fresh``: a fresh process per record, so each record's peak memory is its own (as ``jarvl
    profile`` does); otherwise each worker profiles several records (faster, for --quick).
    Returns the records and, for each request, its record. A config is timed if any request for
    it asks for timing. ``wall_s`` of a record: seconds since the previous one finished (its own
    wall time when ``jobs`` is 1).
    """
    from jarvl.cli.profile_cmd import profile_one

    keys = [config_key(grid, r) for r in reqs]  # also validates every config before the long run
    timed = {k for k, r in zip(keys, reqs) if r.timing}
    unique: dict[str, Request] = {}
    for k, r in zip(keys, reqs):
        unique.setdefault(k, r)
    by_key: dict[str, dict] = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, max_tasks_per_child=1 if fresh else None) as pool:
        futures = {}
        for k, r in unique.items():
            kwargs = dict(batch=r.batch, text_len=grid.text_len, target_len=grid.target_len,
                          repeats=grid.repeats, device="cpu", timing=k in timed)  # fmt: skip
            futures[k] = pool.submit(profile_one, grid.preset, r.fusion, r.overrides, kwargs)
        last = time.perf_counter()
        for i, (k, fut) in enumerate(futures.items()):
            rec, r = fut.result(), unique[k]
            now = time.perf_counter()
            rec.update(id=i, overrides=r.overrides, wall_s=round(now - last, 1))
            last = now
            by_key[k] = rec
            print(f"[{i + 1:2d}/{len(futures)}] {r.fusion:15s} {' '.join(r.overrides) or '(preset)':28s} batch {r.batch} "
                  f"{rec['gflops']:8.2f} GF {rec['activation_mb']:8.1f} MB {rec['wall_s']:6.1f} s", flush=True)  # fmt: skip
    return list(by_key.values()), [by_key[k] for k in keys]


# ----------------------------------------------------------------------------- machine and command


def machine() -> dict:
    """Platform, CPU model (/proc/cpuinfo), cores, torch version and threads."""
    import torch

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((ln.split(":", 1)[1].strip() for ln in handle if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return dict(
        platform=platform.platform(), cpu=cpu, cpu_count=os.cpu_count(), python=platform.python_version(),
        torch=torch.__version__, torch_threads=torch.get_num_threads(), omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
    )  # fmt: skip


def command() -> str:
    """The command line that ran this script, with the environment variables that matter."""
    env = [f"{k}={os.environ[k]}" for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS") if k in os.environ]
    exe = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
    return " ".join(env + [exe] + [shlex.quote(a) for a in sys.argv])


# ----------------------------------------------------------------------------- markdown tables


def fmt(v, p: int = 1) -> str:
    return "-" if v is None else f"{v:.{p}f}"


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def table_fusions(recs: dict[str, dict]) -> str:
    c = recs["concat"]
    pc = PAPER_GF["concat"]
    rows = []
    for f, r in recs.items():
        paper = PAPER_GF.get(f)
        mem = PAPER_MEMORY_GB.get(f)
        rows.append([
            f, fmt(r["gflops"], 2), fmt(r["gflops"] / c["gflops"], 2), fmt(r["gflops_image"], 2), fmt(r["gflops_text"], 2),
            fmt(r["gflops_fusion"], 2), fmt(r["gflops_decoder"], 2), f"{r['params'] / 1e6:.1f}M", r["fused_tokens"],
            fmt(r["activation_mb"]), fmt(r["activation_mb"] / c["activation_mb"], 2), fmt(r["step_peak_mb"], 0),
            fmt(r["latency_ms"], 0), fmt(paper), fmt(paper and paper / pc, 2), fmt(mem, 0),
        ])  # fmt: skip
    header = ["fusion", "GFLOPs", "x concat", "image", "text", "fusion", "decoder", "params", "fused tokens",
              "act. MB", "x concat", "step peak MB", "latency ms", "paper GF", "paper x concat", "paper mem. GB"]  # fmt: skip
    return md_table(header, rows)


def table_ablation(entries: list[tuple[dict, dict]], head: dict) -> str:
    pj = PAPER_GF["jar"]
    rows = []
    for labels, r in entries:
        paper = PAPER_ABLATION_GF.get((labels["knob"], labels["value"]))
        rows.append([
            labels["knob"], labels["value"], r["fused_tokens"], fmt(r["gflops"], 2), fmt(r["gflops"] / head["gflops"], 2),
            fmt(r["gflops_fusion"], 2), fmt(r["activation_mb"]), fmt(r["activation_mb"] / head["activation_mb"], 2),
            fmt(paper), fmt(paper and paper / pj, 2),
        ])  # fmt: skip
    header = ["knob", "value", "fused tokens", "GFLOPs", "x headline", "fusion GF", "act. MB", "x headline", "paper GF", "paper x headline"]
    return md_table(header, rows)


def table_sizes(by: dict[tuple[str, int], dict], sizes: list[int], key: str, p: int) -> str:
    s0 = sizes[0]
    header = ["fusion"] + [f"{s}px" for s in sizes] + [f"x {s0}px @ {s}" for s in sizes[1:]] + [f"x concat @ {s}" for s in sizes]
    rows = []
    for f in FUSIONS:
        vals = [by[f, s][key] for s in sizes]
        rows.append(
            [f] + [fmt(v, p) for v in vals] + [fmt(v / vals[0], 2) for v in vals[1:]]
            + [fmt(by[f, s][key] / by["concat", s][key], 2) for s in sizes]
        )  # fmt: skip
    return md_table(header, rows)


# ----------------------------------------------------------------------------- analysis


def analysis(grid: Grid, recs: dict[str, dict], ablation: list[tuple[dict, dict]], by: dict, sizes: list[int]) -> str:
    """The prose; every number in it is formatted in from the measurements."""
    dcfg = _preset_cfg(grid.preset, "concat")
    fcfg = dcfg.fusion
    c, j = recs["concat"], recs["jar"]
    out = []

    # Headline.
    rg, ra = j["gflops"] / c["gflops"], j["activation_mb"] / c["activation_mb"]
    prg, prm = PAPER_GF["jar"] / PAPER_GF["concat"], PAPER_MEMORY_GB["jar"] / PAPER_MEMORY_GB["concat"]
    out.append(f"### Headline: JAR vs concat at {grid.preset} {c['image_size']}px\n\n")
    out.append(
        f"- GFLOPs: JAR {j['gflops']:.2f} / concat {c['gflops']:.2f} = **{rg:.2f}x**: "
        f"{'**meets**' if rg <= 0.67 else '**does not meet**'} the paper's <= 0.67x (its Table 3: {prg:.3f}x).\n"
        f"- Activation memory: JAR {j['activation_mb']:.0f} MB / concat {c['activation_mb']:.0f} MB = **{ra:.2f}x**: "
        f"{'**meets**' if ra <= 0.65 else '**does not meet**'} <= 0.65x (the paper's 9 GB / 15 GB = {prm:.2f}x). "
        f"Step peak (resident-memory rise over forward + backward): {j['step_peak_mb']:.0f} / {c['step_peak_mb']:.0f} MB "
        f"= {j['step_peak_mb'] / c['step_peak_mb']:.2f}x; latency {fmt(j['latency_ms'], 0)} / {fmt(c['latency_ms'], 0)} ms "
        f"= {fmt(j['latency_ms'] and j['latency_ms'] / c['latency_ms'], 2)}x.\n"
    )
    over = [f for f, r in recs.items() if f != "concat" and r["gflops"] > c["gflops"]]
    if over:
        out.append(f"- Costlier than concat in GFLOPs: {', '.join(over)}.\n")
    cheaper = [f"{f} ({r['gflops'] / j['gflops']:.2f}x JAR's GFLOPs, {r['activation_mb'] / j['activation_mb']:.2f}x its activations)"
               for f, r in recs.items() if f not in ("concat", "jar") and r["gflops"] < j["gflops"]]  # fmt: skip
    if cheaper:
        out.append(
            f"- **Cheaper than JAR in our count: {', '.join(cheaper)}**; in the paper JAR is the cheapest fusion. "
            "Likely why: they run as many fusion layers over as few tokens (N, or the L text tokens for "
            "cross-attention), and at this image size their repeated reads of all M (+ L) tokens cost less than what "
            "JAR adds (two resamplers, and a gated cross-attention block with its own MLP in every iteration); "
            "'Growth with image tokens' below shows how that changes as M grows.\n"
        )

    # Absolute GFLOPs under four readings of the paper's convention.
    out.append("\n### Absolute GFLOPs: our count against the paper's\n\n")
    out.append(
        "Our FLOPs are 2 x multiply-adds of everything the forward pass runs (image encoder included); "
        "the paper does not say which convention it uses, nor whether its count includes the image encoder. "
        "Ratios ours / paper under four readings (a ratio of 1.00 would be an exact match):\n\n"
    )
    readings = {
        "2xMAC, all": lambda r: r["gflops"],
        "MAC, all": lambda r: r["gflops"] / 2,
        "2xMAC, no image enc.": lambda r: r["gflops"] - r["gflops_image"],
        "MAC, no image enc.": lambda r: (r["gflops"] - r["gflops_image"]) / 2,
    }
    pairs = [(f, recs[f], PAPER_GF[f]) for f in recs if f in PAPER_GF]
    pairs += [(f"jar {lab['knob']}={lab['value']}", r, PAPER_ABLATION_GF[lab["knob"], lab["value"]])
              for lab, r in ablation if (lab["knob"], lab["value"]) in PAPER_ABLATION_GF]  # fmt: skip
    rows = [[name, fmt(paper)] + [fmt(fn(r) / paper, 2) for fn in readings.values()] for name, r, paper in pairs]
    spread = {k: math.exp(sum(abs(math.log(fn(r) / p)) for _, r, p in pairs) / len(pairs)) for k, fn in readings.items()}
    rows.append(["geometric mean miss", ""] + [f"x{spread[k]:.2f}" for k in readings])
    out.append(md_table(["setting", "paper GF"] + list(readings), rows) + "\n\n")
    best = min(spread, key=spread.get)
    img = c["gflops_image"]
    n_min = min((r["gflops"] for lab, r in ablation if lab["knob"] == "num_tokens"), default=None)
    p_min = min(PAPER_ABLATION_GF.values())
    out.append(
        f"- The reading closest over all {len(pairs)} settings is **{best}** (off by x{spread[best]:.2f} on average, "
        f"geometric). Our image encoder alone costs {img:.1f} GF per sample ({img / 2:.1f} G multiply-adds) at "
        f"{c['image_size']}px, {img / PAPER_GF['jar']:.2f}x the paper's whole JAR figure. The paper's smallest figure "
        f"({p_min} GF, N=16) is {p_min / img:.2f}x our image encoder at 2xMAC and {p_min / (img / 2):.2f}x it in MACs"
        + (
            ": if the paper's ViT is the same size, its count is in multiply-adds, or leaves part of the image encoder out.\n"
            if p_min < img
            else ".\n"
        )
    )
    if n_min is not None:
        out.append(f"- Our own smallest JAR (N={grid.ablation['num_tokens'][0]}) costs {n_min:.1f} GF; "
                   f"the image encoder is {img / n_min:.0%} of it.\n")  # fmt: skip
        if p_min > img / 2:
            out.append(
                f"- Even in MACs, the paper's {p_min} GF leaves {p_min - img / 2:.1f} G for the text encoder, fusion and "
                f"decoder, which cost {(n_min - img) / 2:.1f} G multiply-adds in our smallest JAR: the paper's text "
                "encoder, fusion or decoder at N=16 must be much lighter than ours, or that row uses another set-up.\n"
            )

    # Ratios to concat: the concat baseline's depth.
    per_layer = c["gflops_fusion"] / max(1, fcfg.layers)
    rest = c["gflops"] - c["gflops_fusion"]
    depth_mac = (2 * PAPER_GF["concat"] - rest) / per_layer
    depth_2mac = (PAPER_GF["concat"] - rest) / per_layer
    m_l = c["image_tokens"] + c["text_len"]
    out.append("\n### Ratios to concat\n\n")
    out.append(
        f"- Ours JAR/concat {rg:.2f}x vs the paper's {prg:.2f}x; perceiver {recs['perceiver']['gflops'] / c['gflops']:.2f}x "
        f"vs {PAPER_GF['perceiver'] / PAPER_GF['concat']:.2f}x; co-tokenization "
        f"{recs['cotokenization']['gflops'] / c['gflops']:.2f}x vs {PAPER_GF['cotokenization'] / PAPER_GF['concat']:.2f}x; "
        f"cross-attention {recs['cross_attention']['gflops'] / c['gflops']:.2f}x (no paper figure).\n"
        f"- Our concat runs all {fcfg.layers} fusion layers over all {c['image_tokens']} + {c['text_len']} = {m_l} tokens "
        f"({per_layer:.2f} GF per layer; fusion part {c['gflops_fusion']:.1f} GF = {c['gflops_fusion'] / c['gflops']:.0%} "
        "of concat's total). The paper does not state its concat baseline's depth. Keeping our encoders and decoder, "
        f"the paper's {PAPER_GF['concat']} GF would be met by a concat of about {depth_mac:.0f} layers if the paper counts "
        f"multiply-adds, or {depth_2mac:.1f} layers at 2xMAC. "
        + (
            f"Our JAR/concat ratio is lower than the paper's ({rg:.2f} vs {prg:.2f}); a concat baseline shallower than our "
            f"{fcfg.layers} layers would explain it.\n"
            if rg < prg and depth_mac < fcfg.layers
            else f"Our JAR/concat ratio is {rg:.2f} against the paper's {prg:.2f}.\n"
        )
    )
    out.append(
        f"- The decoder cross-attends to the fused tokens, so it is part of the fusion's bill: concat hands it "
        f"{c['fused_tokens']} tokens ({c['gflops_decoder']:.2f} GF), JAR {j['fused_tokens']} ({j['gflops_decoder']:.2f} GF). "
        f"Ours has {dcfg.decoder.depth} layers of width {dcfg.width} and a {dcfg.text.vocab_size}-token vocabulary "
        "(T5-base-sized in paper-base); the paper's decoder size is not in what we read.\n"
        f"- The text encoder costs {c['gflops_text']:.2f} GF at {c['text_len']} prompt tokens, the same for every fusion; "
        "the paper's prompt length is not stated. A shorter prompt lowers the text encoder's cost for every fusion alike, "
        "and concat's and cross-attention's fusion cost too (they run layers over the text tokens).\n"
    )

    # Ablation trends.
    out.append("\n### JAR ablation against Table 4\n\n")
    for knob, values in grid.ablation.items():
        got = {lab["value"]: r for lab, r in ablation if lab["knob"] == knob}
        lo, hi = values[0], values[-1]
        paper_lo, paper_hi = PAPER_ABLATION_GF.get((knob, lo)), PAPER_ABLATION_GF.get((knob, hi))
        ours = got[hi]["gflops"] / got[lo]["gflops"]
        paper = f"{paper_hi / paper_lo:.2f}x ({paper_lo} -> {paper_hi} GF)" if paper_lo and paper_hi else "-"
        line = f"- {knob} {lo} -> {hi}: ours {ours:.2f}x ({got[lo]['gflops']:.2f} -> {got[hi]['gflops']:.2f} GF), paper {paper}"
        if isinstance(lo, int) and isinstance(hi, int) and paper_lo and paper_hi:
            step = (got[hi]["gflops"] - got[lo]["gflops"]) / (hi - lo)
            line += f"; per unit ours {step:.3f} GF ({step / 2:.3f} in MACs), paper {(paper_hi - paper_lo) / (hi - lo):.3f} GF"
        out.append(line + f"; activations {got[hi]['activation_mb'] / got[lo]['activation_mb']:.2f}x.\n")
    it = grid.ablation["iterations"]
    got_it = {lab["value"]: r["gflops"] for lab, r in ablation if lab["knob"] == "iterations"}
    it_ours = got_it[it[-1]] / got_it[it[0]]
    p_it = [PAPER_ABLATION_GF.get(("iterations", v)) for v in (it[0], it[-1])]
    it_paper = p_it[1] / p_it[0] if all(p_it) else float("nan")
    out.append(
        f'- Iterations: we keep the fusion\'s layers at {fcfg.layers} in all (PAPER.md reads "32 layers" as iterations x '
        "layers per iteration), so more iterations only add gated cross-attention blocks between the N tokens and "
        f"shrink the layers per iteration: ours moves x{it_ours:.2f} from {it[0]} to {it[-1]} iterations, the paper's "
        f"{fmt(None if math.isnan(it_paper) else it_paper, 2)}x. "
        + (
            "The paper's iterations thus seem to add more compute than ours (e.g. a fixed number of layers per "
            "iteration, or a re-read of the inputs).\n"
            if it_paper > it_ours + 0.05
            else "As in the paper.\n"
        )
    )
    nt = grid.ablation["num_tokens"]
    got_n = {lab["value"]: r["gflops"] for lab, r in ablation if lab["knob"] == "num_tokens"}
    p_n = [PAPER_ABLATION_GF.get(("num_tokens", v)) for v in (nt[0], nt[-1])]
    if all(p_n):
        slope_ours = (got_n[nt[-1]] - got_n[nt[0]]) / (nt[-1] - nt[0]) / 2
        slope_paper = (p_n[1] - p_n[0]) / (nt[-1] - nt[0])
        out.append(
            f"- Tokens: per extra token the paper adds {slope_paper:.3f} GF, {slope_paper / slope_ours:.2f}x our "
            f"{slope_ours:.3f} G multiply-adds. Our {fcfg.layers} layers run over one set of N tokens (the text-side "
            "tokens, after fusion); a design whose layers carry more tokens per N (e.g. both modalities' N tokens) "
            "or whose decoder reads more of them would grow faster.\n"
        )
    out.append(
        "- Resampling: our spatial resampler is TokenLearner's LN -> Linear(D, D) -> GELU -> Linear(D, N) over every "
        "position plus one projection; the latent one is one attention (keys and values projected at every position) "
        "plus an MLP over the N queries. Which costs more depends on these widths, which the paper does not give.\n"
    )

    # Image sizes.
    s0, s1 = sizes[0], sizes[-1]
    m0, m1 = by["concat", s0]["image_tokens"], by["concat", s1]["image_tokens"]
    out.append(f"\n### Growth with image tokens ({s0}px -> {s1}px: {m0} -> {m1} image tokens, x{m1 / m0:.1f})\n\n")
    for f in FUSIONS:
        a, b = by[f, s0], by[f, s1]
        note = f" (batch {a['batch']} -> {b['batch']})" if a["batch"] != b["batch"] else ""
        out.append(
            f"- {f}: total x{b['gflops'] / a['gflops']:.2f}, fusion part x{b['gflops_fusion'] / max(a['gflops_fusion'], 1e-9):.2f}, "
            f"decoder x{b['gflops_decoder'] / a['gflops_decoder']:.2f}, activations x{b['activation_mb'] / a['activation_mb']:.2f}"
            f"{note}; x concat {a['gflops'] / by['concat', s0]['gflops']:.2f} -> "
            f"{b['gflops'] / by['concat', s1]['gflops']:.2f} GF, "
            f"{a['activation_mb'] / by['concat', s0]['activation_mb']:.2f} -> {b['activation_mb'] / by['concat', s1]['activation_mb']:.2f} memory.\n"
        )
    out.append(
        f"- The image encoder grows for every fusion alike (x{by['jar', s1]['gflops_image'] / by['jar', s0]['gflops_image']:.2f}) "
        f"and is {by['jar', s1]['gflops_image'] / by['jar', s1]['gflops']:.0%} of JAR's total at {s1}px; "
        "what differs is the fusion and the decoder: concat's attention is quadratic in M + L and its decoder reads "
        "all M + L tokens, JAR reads the M image tokens once (its resampler) and hands N tokens on.\n"
    )
    vs = "; ".join(
        f"{f} " + " -> ".join(f"{by[f, s]['gflops_fusion'] / by['jar', s]['gflops_fusion']:.2f}" for s in sizes)
        for f in FUSIONS if f != "jar"
    )  # fmt: skip
    cheapest = "; ".join(
        f"{s}px: {min(FUSIONS, key=lambda f: by[f, s]['gflops'])} in GFLOPs, "
        f"{min(FUSIONS, key=lambda f: by[f, s]['activation_mb'])} in activations" for s in sizes
    )  # fmt: skip
    out.append(f"- Cheapest fusion at each size: {cheapest}.\n")
    out.append(f"- Fusion-part GFLOPs as a multiple of JAR's, at {' -> '.join(f'{s}px' for s in sizes)}: {vs}.\n")

    # Memory.
    fixed_c, fixed_j = c["params"] * 16 / 2**20, j["params"] * 16 / 2**20
    whole = (fixed_j + j["activation_mb"]) / (fixed_c + c["activation_mb"])
    out.append("\n### Memory: ours vs the paper's 15 GB / 9 GB\n\n")
    out.append(
        f"- Ours is what autograd saves for backward in one fp32 training step of batch {c['batch']} (no weights, gradients "
        "or optimizer state); the paper's is presumably a TPU training job's memory at its own batch and precision, "
        "which it does not give with the figure.\n"
        f"- Weights, gradients and Adam's two moments in fp32 take 16 bytes a parameter: {fixed_c:.0f} MB for concat "
        f"({c['params'] / 1e6:.0f}M parameters), {fixed_j:.0f} MB for JAR ({j['params'] / 1e6:.0f}M; JAR has "
        f"{'more' if j['params'] > c['params'] else 'fewer'} parameters than concat). With them, our batch-{c['batch']} step "
        f"would be {whole:.2f}x concat's; as the batch grows that ratio tends to the activation ratio {ra:.2f}x. "
        + (
            f"The paper's {prm:.2f}x is below {whole:.2f}x, so its memory is presumably activation-dominated (a large "
            "batch), and our activation ratio is the figure to compare it with.\n"
            if prm < whole
            else "\n"
        )
        + f"- Our step peak ({j['step_peak_mb']:.0f} vs {c['step_peak_mb']:.0f} MB, {j['step_peak_mb'] / c['step_peak_mb']:.2f}x) "
        f"includes the gradients backward allocates, 4 bytes a parameter ({c['params'] * 4 / 2**20:.0f} MB for concat, "
        f"{j['params'] * 4 / 2**20:.0f} MB for JAR), so at batch {c['batch']} it follows the parameter count more than "
        "the activations; it is not the measure of JAR's memory saving.\n"
    )
    speed = {f: r["gflops"] * r["batch"] / (r["latency_ms"] / 1e3) for f, r in recs.items() if r["latency_ms"]}
    if speed:
        lo_f, hi_f = min(speed, key=speed.get), max(speed, key=speed.get)
        out.append("\n### Latency\n\n")
        out.append(
            f"- Forward throughput ranges from {speed[lo_f]:.0f} GFLOP/s ({lo_f}) to {speed[hi_f]:.0f} GFLOP/s ({hi_f}), "
            f"x{speed[hi_f] / speed[lo_f]:.1f} apart"
            + (
                ": on this shared 2-core machine, with the median of only a few runs, latencies are too noisy to rank "
                "fusions; use the GFLOPs.\n"
                if speed[hi_f] / speed[lo_f] > 1.5
                else ".\n"
            )
        )
    return "".join(out)


# ----------------------------------------------------------------------------- main


def write(out_dir: Path, grid: Grid, reqs: list[Request], records: list[dict], cells: list[dict], meta: dict) -> None:
    """Write flops.json and flops.md."""
    recs = {req.fusion: rec for req, rec in zip(reqs, cells) if req.table == "fusions"}
    ablation = [(req.labels, rec) for req, rec in zip(reqs, cells) if req.table == "ablation"]
    by = {(req.fusion, req.labels["size"]): rec for req, rec in zip(reqs, cells) if req.table == "sizes"}
    tables = {
        "fusions": {f: r["id"] for f, r in recs.items()},
        "ablation": [dict(lab, record=r["id"]) for lab, r in ablation],
        "sizes": [dict(fusion=f, size=s, record=r["id"]) for (f, s), r in by.items()],
    }
    data = dict(meta=meta, paper=dict(gflops=PAPER_GF, memory_gb=PAPER_MEMORY_GB,
                ablation_gflops=[dict(knob=k, value=v, gflops=g) for (k, v), g in PAPER_ABLATION_GF.items()]),
                tables=tables, cells=[r["id"] for r in cells], records=records)  # fmt: skip
    (out_dir / "flops.json").write_text(json.dumps(data, indent=1) + "\n")

    c = recs["concat"]
    sizes = grid.sizes
    size_batches = sorted({by[f, s]["batch"] for f, s in by})
    m = meta["machine"]
    size_list = ", ".join(f"{s}px ({by['concat', s]['image_tokens']} tokens)" for s in sizes)
    md = [
        "# FLOPs and activation memory of the fusions\n\n",
        f"Made by `{meta['command']}` on {meta['date']} in {meta['elapsed_s'] / 60:.1f} min "
        f"({len(records)} records, {'each in a fresh spawned process' if meta.get('fresh_process', True) else 'in reused spawned processes'}, "
        f"{meta['jobs']} at a time)"
        + (f"; this page re-written from its flops.json by `{meta['rendered_by']}`" if meta.get("rendered_by") else "")
        + ".\n\n",
        f"Machine: {m['platform']}; CPU {m['cpu']}, {m['cpu_count']} cores (shared), torch {m['torch']} with "
        f"{m['torch_threads']} threads, Python {m['python']}.\n\n",
        f"Model: `{grid.preset}`, {c['text_len']} prompt tokens, {c['target_len']} target tokens. GFLOPs are per sample, "
        "forward pass, counted by `torch.utils.flop_counter` with CPU attention registered, **FLOPs = 2 x multiply-adds** "
        "(the paper's convention is unknown). `act. MB`: bytes autograd saves for backward in one fp32 training step of "
        f"the batch ({grid.batch}), parameters excluded. `step peak MB`: rise of resident memory over that step. "
        f"`latency ms`: median of {grid.repeats} inference forward passes of the batch. Paper columns: PAPER.md (Tables 2-4), "
        "a TPU-scale model: a different convention and set-up, not a target to copy.\n",
    ]
    if meta["jobs"] > 1 or not meta.get("fresh_process", True):
        md.append(f"\n**{meta['jobs']} records ran at once in reused processes: latency and step peak are skewed.**\n")
    if grid.preset != "paper-base":
        md.append(f"\n**Quick run on the `{grid.preset}` preset: the comparisons with the paper below are not meaningful.**\n")
    md += [
        f"\n## 1. Five fusions at {c['image_size']}px ({c['image_tokens']} image tokens)\n\n",
        table_fusions(recs) + "\n",
        f"\n## 2. JAR ablation at {c['image_size']}px (Table 4)\n\n",
        "Each row varies one knob from the headline JAR "
        f"(N={_preset_cfg(grid.preset, 'jar').fusion.num_tokens}, {_preset_cfg(grid.preset, 'jar').fusion.iterations} "
        f"iterations, {_preset_cfg(grid.preset, 'jar').fusion.layers} layers in all, latent resampling); "
        "rows equal to the headline reuse its record. `x headline` is the ratio to that JAR.\n\n",
        table_ablation(ablation, recs["jar"]) + "\n",
        f"\n## 3. Growth with image size: {size_list}\n\n",
        f"Batch {' / '.join(str(b) for b in size_batches)} for activation memory"
        f"{' (the larger sizes at the smaller batch; compare memory ratios within a size)' if len(size_batches) > 1 else ''}.\n\n",
        "GFLOPs per sample:\n\n",
        table_sizes(by, sizes, "gflops", 2) + "\n\n",
        "Activation MB:\n\n",
        table_sizes(by, sizes, "activation_mb", 1) + "\n\n",
        "## Analysis\n\n",
        analysis(grid, recs, ablation, by, sizes),
    ]
    (out_dir / "flops.md").write_text("".join(md))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="tiny preset, a tiny grid, 2 reused worker processes (well under a minute), for tests"
    )
    parser.add_argument(
        "--out", default="benchmarks/results", help="output folder for flops.json and flops.md (default benchmarks/results)"
    )
    parser.add_argument("--size-batch", type=int, help="batch for the larger image sizes of table 3 (default: the table 1 batch, 2)")
    parser.add_argument(
        "--jobs", type=int, help="records profiled at once (default 1; --quick: 2). Above 1, latency and step peak are skewed"
    )
    parser.add_argument("--from-json", metavar="PATH", help="re-write flops.md (and flops.json) from a saved flops.json, without profiling")
    args = parser.parse_args(argv)
    out_dir = Path(args.out)

    if args.from_json:
        data = json.loads(Path(args.from_json).read_text())
        meta, records = data["meta"], data["records"]
        meta["rendered_by"] = command()
        grid = Grid(**meta["grid"])
        cells = [records[i] for i in data["cells"]]
        out_dir.mkdir(parents=True, exist_ok=True)
        write(out_dir, grid, plan(grid, meta["size_batch"]), records, cells, meta)
        print(f"re-wrote {out_dir / 'flops.md'} from {args.from_json}")
        return 0

    grid = QUICK if args.quick else FULL
    jobs = args.jobs or (2 if args.quick else 1)
    reqs = plan(grid, args.size_batch or grid.batch)
    out_dir.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    records, cells = profile_all(grid, reqs, jobs, fresh=not args.quick)
    meta = dict(command=command(), date=date, elapsed_s=round(time.perf_counter() - start, 1), machine=machine(),
                grid=dict(vars(grid)), quick=args.quick, size_batch=args.size_batch or grid.batch, jobs=jobs,
                fresh_process=not args.quick)  # fmt: skip
    write(out_dir, grid, reqs, records, cells, meta)
    print(f"wrote {out_dir / 'flops.md'} and {out_dir / 'flops.json'} in {meta['elapsed_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
