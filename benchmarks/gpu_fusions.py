"""Every fusion of the paper-base model trained and decoded on one GPU: a pure model measurement.

For each fusion (concat, cross_attention, perceiver, cotokenization, jar) this builds the preset
(``paper-base``: ViT-B/16 at 224 px, 196 image tokens) on the device and trains it with AdamW in
bf16 autocast on random inputs of the right shapes: images 224x224, prompts of 32 tokens, targets
of 8 tokens, batch ``--batch``. No data pipeline, no gradient clipping, eager mode unless
``--compile`` (then the training forward runs through ``torch.compile``, compiled during the
warm-up steps; ``generate()`` stays eager). ``--warmup`` steps, then ``--steps`` timed ones.
Recorded per fusion:

- training samples/s (timed steps / synchronised wall time) and step time (median of per-step
  CUDA events; perf_counter on the CPU);
- peak GPU memory of training (``torch.cuda.max_memory_allocated``, reset per fusion: weights,
  gradients, AdamW state and activations) and parameters;
- ``generate()`` latency (greedy, KV cache) at batch 1 and at ``--batch``, median of a few calls.
  EOS is switched off so every fusion decodes the full ``decoder.max_len`` tokens (an untrained
  model would otherwise stop at random lengths).

``--budget-s`` (default 220) caps the whole run: each fusion gets an equal share of what is left
and stops its timed steps early when its share runs out (``steps_timed`` says how many ran).
Results are written after every fusion (``gpu_fusions.json`` + ``gpu_fusions.md`` in ``--out``; the
configs ``gpu_fusions`` and ``gpu_fusions_compiled`` run the same measurement through ``python -m
benchmarks run CONFIG --device cuda``, the ``gpu`` kind),
so a killed run keeps what is done. Needs only torch, numpy, safetensors, pyyaml (jarvl's model
code) at import; run from the repository root without installing:

    PYTHONPATH=src python benchmarks/gpu_fusions.py                       # H100: ~3-4 min
    PYTHONPATH=src python benchmarks/gpu_fusions.py --fusions jar,concat --steps 100
    python benchmarks/gpu_fusions.py --quick --out /tmp/gpu               # CPU, tiny, 2 steps, fp32: seconds
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT.parent / "src"))  # the checkout's jarvl, installed or not

import torch  # noqa: E402
from common import write_results  # noqa: E402

FUSIONS = ["concat", "cross_attention", "perceiver", "cotokenization", "jar"]
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16 tensor-core peaks (SXM)


def log(msg: str) -> None:
    """Print at once (the lead watches a remote run)."""
    print(msg, flush=True)


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_inputs(cfg, batch: int, text_len: int, target_len: int, device: torch.device, seed: int = 0):
    """Images float[B, 3, S, S], prompts long[B, L] (all real tokens), mask bool[B, L], targets long[B, T], made on ``device``."""
    g = torch.Generator(device=device).manual_seed(seed)
    s, v = cfg.vision.image_size, cfg.text.vocab_size
    images = torch.randn(batch, 3, s, s, generator=g, device=device)
    ids = torch.randint(4, v, (batch, text_len), generator=g, device=device)
    mask = torch.ones(batch, text_len, dtype=torch.bool, device=device)
    targets = torch.randint(4, v, (batch, target_len), generator=g, device=device)
    return images, ids, mask, targets


class StepTimer:
    """Per-step times: CUDA events on a GPU (read once at the end, no sync per step), perf_counter on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.marks: list = []

    def mark(self) -> None:
        """Record a boundary between steps."""
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            self.marks.append(ev)
        else:
            self.marks.append(time.perf_counter())

    def times_ms(self) -> list[float]:
        """Milliseconds between consecutive marks (call after a sync)."""
        if self.cuda:
            return [a.elapsed_time(b) for a, b in zip(self.marks, self.marks[1:])]
        return [(b - a) * 1e3 for a, b in zip(self.marks, self.marks[1:])]


def train(
    model,
    inputs,
    steps: int,
    warmup: int,
    amp: torch.dtype | None,
    device: torch.device,
    deadline: float,
    compile_model: bool = False,
    compile_mode: str = "default",
) -> dict:
    """AdamW training steps on fixed ``inputs``: ``warmup`` untimed, then up to ``steps`` timed (fewer past ``deadline``).

    ``compile_model``: the forward goes through ``torch.compile`` (compiled in the first warm-up step, whose time is ``first_step_s``).
    """
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, fused=device.type == "cuda")
    model.train()
    # mode "reduce-overhead": CUDA graphs, no per-kernel launch cost (the step has no host sync to break them)
    forward = torch.compile(model, mode=compile_mode) if compile_model else model

    def step() -> torch.Tensor:
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss = forward(*inputs).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    t0 = time.perf_counter()
    loss = step()  # the first step compiles when compile_model
    sync(device)
    compile_s = time.perf_counter() - t0
    for _ in range(warmup - 1):
        loss = step()
    sync(device)
    timer = StepTimer(device)
    start = time.perf_counter()
    timer.mark()
    done = 0
    for _ in range(steps):
        loss = step()
        timer.mark()
        done += 1
        if time.perf_counter() > deadline:
            break
    sync(device)
    wall = time.perf_counter() - start
    times = timer.times_ms()
    batch = inputs[0].shape[0]
    out = {
        "steps_timed": done, "truncated": done < steps, "train_wall_s": round(wall, 2),
        "train_samples_per_s": done * batch / wall, "step_ms_median": statistics.median(times),
        "step_ms_mean": statistics.mean(times), "step_ms_min": min(times), "final_loss": float(loss),
        "first_step_s": round(compile_s, 1), "compiled": compile_model,
    }  # fmt: skip
    return out


def generate_latency(model, cfg, batch: int, text_len: int, amp, device: torch.device, repeats: int, deadline: float) -> dict:
    """Median ms of ``model.generate`` (greedy, full ``decoder.max_len`` tokens) at ``batch``."""
    images, ids, mask, _ = random_inputs(cfg, batch, text_len, 1, device, seed=1)
    model.eval()
    times, tokens = [], 0
    with torch.no_grad(), torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
        for i in range(repeats + 1):  # the first call is warm-up
            sync(device)
            t = time.perf_counter()
            out = model.generate(images, ids, mask)
            sync(device)
            if i:
                times.append((time.perf_counter() - t) * 1e3)
            tokens = out.shape[1]
            if i and time.perf_counter() > deadline:
                break
    ms = statistics.median(times)
    return {"batch": batch, "ms_median": ms, "calls": len(times), "new_tokens": tokens, "tokens_per_s": batch * tokens / (ms / 1e3)}


def build(preset: str, fusion: str, overrides: list[str], device: torch.device):
    """The model of ``preset`` with ``fusion``, initialised directly on ``device``; EOS off for fixed-length decoding."""
    from jarvl.config import apply_overrides
    from jarvl.models import JARVLModel, get_preset

    cfg = apply_overrides(get_preset(preset, fusion), overrides).validate()
    torch.manual_seed(0)
    with device:  # parameters are created (and initialised) on the device: no 500M-parameter CPU init
        model = JARVLModel(cfg)
    model.to(device)  # anything a constructor made on the CPU explicitly
    model.cfg.text.eos_id = -1  # never produced: generate() always runs decoder.max_len steps
    return cfg, model


def measure(fusion: str, batch: int, args, device: torch.device, amp, deadline: float) -> dict:
    """Train, then time ``generate``, for one fusion at ``batch``; returns its record."""
    t0 = time.perf_counter()
    cfg, model = build(args.preset, fusion, args.set, device)
    text_len = min(args.text_len, cfg.text.max_len)
    target_len = min(args.target_len, cfg.decoder.max_len)
    params = sum(p.numel() for p in model.parameters())
    params_fusion = sum(p.numel() for m in (model.fusion, model.image_proj, model.text_proj) for p in m.parameters())
    rec = {"fusion": fusion, "preset": cfg.preset, "image_size": cfg.vision.image_size, "image_tokens": cfg.vision.num_tokens,
           "text_len": text_len, "target_len": target_len, "batch": batch, "params": params, "params_fusion": params_fusion,
           "dtype": "bf16" if amp is torch.bfloat16 else "fp32", "status": "ok"}  # fmt: skip
    share = deadline - t0
    inputs = random_inputs(cfg, batch, text_len, target_len, device)
    rec.update(
        train(
            model,
            inputs,
            args.steps,
            max(1, args.warmup),
            amp,
            device,
            deadline=t0 + 0.8 * share,
            compile_model=args.compile,
            compile_mode=args.compile_mode,
        )
    )
    del inputs
    if device.type == "cuda":
        rec["train_peak_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
    for p in model.parameters():
        p.grad = None
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    gen = {}
    for b in dict.fromkeys([1, batch]):
        try:
            gen[str(b)] = generate_latency(model, cfg, b, text_len, amp, device, args.gen_repeats, deadline)
        except Exception as err:  # keep the training figures when decoding fails
            traceback.print_exc()
            rec["generate_error"] = f"batch {b}: {type(err).__name__}: {err}"[:300]
            break
    rec["generate"] = gen
    if device.type == "cuda":
        rec["generate_peak_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
    rec["wall_s"] = round(time.perf_counter() - t0, 1)
    del model
    return rec


def cleanup(device: torch.device) -> None:
    """Free what the last fusion left and reset the peak-memory counter."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def flops_per_sample(path: Path, rec: dict) -> float | None:
    """Forward GFLOPs per sample of this fusion from the flops config's result file (``results/flops.cpu.json``,
    ``python -m benchmarks run flops``), when it profiled the same model at the same lengths; else None."""
    if not path.is_file():
        return None
    records = json.loads(path.read_text()).get("payload", {}).get("records", [])
    keys = ("preset", "fusion", "image_size", "text_len", "target_len")
    same = [r for r in records if not r.get("overrides") or r["overrides"] == {"fusion.name": rec["fusion"]}]
    return next((r["gflops"] for r in same if all(r.get(k) == rec[k] for k in keys)), None)


def markdown(payload: dict) -> str:
    """The results table (ratios to concat when it ran) and the settings."""
    recs = [r for r in payload["records"] if r["status"] == "ok"]
    s = payload["settings"]
    gpu = payload.get("device_name") or s["device"]
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in gpu), None) if s["dtype"] == "bf16" else None
    md = [
        f"# Fusions on {gpu}: training throughput, memory and generate() latency\n\n",
        f"`{s['preset']}` preset, {s['image_size']}px images ({s['image_tokens']} image tokens), prompts of {s['text_len']} "
        f"tokens, targets of {s['target_len']}; random inputs made on the device (no data pipeline), AdamW, "
        f"{'bf16 autocast' if s['dtype'] == 'bf16' else 'fp32'}, "
        + (
            f"training forward through `torch.compile` ({s.get('compile_mode', 'default')} mode; `generate` eager; the compile is in the first warm-up step, "
            "its time in the json as `first_step_s`)"
            if s.get("compile")
            else "eager"
        )
        + f", no gradient clipping; {s['warmup']} warm-up steps, "
        f"then up to {s['steps']} timed. torch {payload['torch']}. `peak GB`: `torch.cuda.max_memory_allocated` over "
        "training (weights, gradients, AdamW state, activations). `generate`: greedy with KV cache, "
        f"{next((r['generate']['1']['new_tokens'] for r in recs if '1' in r['generate']), '-')} new tokens (EOS off), median of up to {s['gen_repeats']} calls.\n\n",
    ]
    if payload.get("quick"):
        md.append("**Quick run (CPU, tiny preset, 2 steps): the numbers are not meaningful.**\n\n")
    base = next((r for r in recs if r["fusion"] == "concat"), None)
    header = ["fusion", "params", "batch", "train samples/s", "x concat", "step ms (median)", "peak GB", "x concat",
              "generate b=1 ms", f"generate b={s['batch']} ms", "fwd GF/sample", "train TFLOP/s"]  # fmt: skip
    if peak:
        header.append(f"% of {peak:.0f} TFLOP/s")
    measured = (payload.get("matmul_peak") or {}).get("gflop_per_s")
    if measured:
        header.append(f"% of measured matmul peak {measured / 1e3:.1f} TFLOP/s")
    rows = []
    for r in recs:
        g = r["generate"]
        b1, big = g.get("1"), g.get(str(r["batch"])) if r["batch"] != 1 else None
        gf = r.get("gflops_forward")
        tflops = 3 * gf * r["train_samples_per_s"] / 1e3 if gf else None  # forward + backward = 3 x forward
        row = [
            r["fusion"], f"{r['params'] / 1e6:.0f}M", r["batch"], f"{r['train_samples_per_s']:.1f}",
            f"{r['train_samples_per_s'] / base['train_samples_per_s']:.2f}" if base else "-",
            f"{r['step_ms_median']:.1f}" + (f" ({r['steps_timed']} steps)" if r["truncated"] else ""),
            f"{r['train_peak_gb']:.1f}" if "train_peak_gb" in r else "-",
            f"{r['train_peak_gb'] / base['train_peak_gb']:.2f}" if base and "train_peak_gb" in r else "-",
            f"{b1['ms_median']:.1f}" if b1 else "error", f"{big['ms_median']:.1f}" if big else "-",
            f"{gf:.1f}" if gf else "-", f"{tflops:.0f}" if tflops else "-",
        ]  # fmt: skip
        if peak:
            row.append(f"{100 * tflops / peak:.0f}%" if tflops else "-")
        if measured:
            row.append(f"{100 * tflops * 1e3 / measured:.0f}%" if tflops else "-")
        rows.append(row)
    md.append("| " + " | ".join(header) + " |\n|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|\n")
    md += ["| " + " | ".join(str(c) for c in row) + " |\n" for row in rows]
    errors = [f"{r['fusion']}: {r['generate_error']}" for r in recs if r.get("generate_error")]
    if errors:
        md.append("\ngenerate() failed: " + "; ".join(errors) + ".\n")
    bad = [r for r in payload["records"] if r["status"] != "ok"]
    if bad:
        md.append("\nNot measured: " + "; ".join(f"{r['fusion']} at batch {r['batch']}: {r['status']}" for r in bad) + ".\n")
    if any(r.get("gflops_forward") for r in recs):
        md.append("\n`fwd GF/sample` is read from flops.json (benchmarks/flops.py, 2 x multiply-adds); `train TFLOP/s` = "
                  "3 x that x samples/s.\n")  # fmt: skip
    done = ", ".join(r["fusion"] for r in payload["records"])
    md.append(f"\nMeasured: {done or 'nothing yet'} ({payload.get('elapsed_s', 0):.0f} s so far).\n")
    return "".join(md)


def run(args, on_progress=None) -> dict:
    """Measure each fusion of ``args.fusions`` (a list) in turn (``main``'s options, parsed), calling
    ``on_progress(payload)`` after each; returns the payload."""
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda, but torch sees no CUDA device")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    dtype = args.dtype or ("bf16" if device.type == "cuda" else "fp32")
    amp = torch.bfloat16 if dtype == "bf16" else None
    fusions = list(args.fusions)

    from jarvl.config import apply_overrides
    from jarvl.models import get_preset

    cfgs = {f: apply_overrides(get_preset(args.preset, f), args.set).validate() for f in fusions}  # fail before the first fusion
    c0 = next(iter(cfgs.values()))
    start = time.perf_counter()
    end = start + args.budget_s
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    payload = {
        "quick": args.quick, "device_name": name, "torch": torch.__version__,
        "settings": {"preset": args.preset, "fusions": fusions, "batch": args.batch, "steps": args.steps, "warmup": args.warmup,
                     "text_len": min(args.text_len, c0.text.max_len), "target_len": min(args.target_len, c0.decoder.max_len),
                     "image_size": c0.vision.image_size, "image_tokens": c0.vision.num_tokens, "dtype": dtype,
                     "device": str(device), "gen_repeats": args.gen_repeats, "budget_s": args.budget_s, "overrides": args.set,
                     "compile": args.compile, "compile_mode": args.compile_mode},
        "records": [],
    }  # fmt: skip
    # The chip's own matmul peak in the run's precision, measured here (the datasheet's is an upper bound).
    from jarvl.profiling.peak import matmul_peak

    payload["matmul_peak"] = matmul_peak(amp or torch.float32, device=str(device), sizes=(1024,) if args.quick else (4096, 8192))
    log(f"matmul peak ({payload['matmul_peak']['dtype']}): {payload['matmul_peak']['gflop_per_s'] / 1e3:.1f} TFLOP/s")
    log(f"{name}, torch {torch.__version__}: {args.preset} x {len(fusions)} fusions, batch {args.batch}, "
        f"{args.warmup}+{args.steps} steps, {dtype}, budget {args.budget_s:.0f} s")  # fmt: skip
    for i, fusion in enumerate(fusions):
        share_end = time.perf_counter() + (end - time.perf_counter()) / (len(fusions) - i)
        batch = args.batch
        while True:
            cleanup(device)
            try:
                rec = measure(fusion, batch, args, device, amp, share_end)
                break
            except torch.cuda.OutOfMemoryError as err:
                rec = {"fusion": fusion, "batch": batch, "status": f"out of memory ({str(err).splitlines()[0][:120]})"}
                log(f"{fusion}: out of memory at batch {batch}")
                payload["records"].append(rec)
                if args.no_retry_oom or batch < 2:
                    rec = None
                    break
                batch //= 2
            except Exception as err:  # one fusion's failure must not cost the others their figures
                traceback.print_exc()
                payload["records"].append({"fusion": fusion, "batch": batch, "status": f"error: {type(err).__name__}: {err}"[:300]})
                log(f"{fusion}: failed ({type(err).__name__}: {err})")
                rec = None
                break
        if rec is not None:
            rec["gflops_forward"] = flops_per_sample(args.flops_json, rec)
            payload["records"].append(rec)
            g = rec["generate"]
            log(f"[{i + 1}/{len(fusions)}] {fusion:15s} {rec['params'] / 1e6:6.0f}M params  batch {batch}  "
                f"{rec['train_samples_per_s']:8.1f} samples/s  step {rec['step_ms_median']:7.1f} ms ({rec['steps_timed']} steps)  "
                f"peak {rec.get('train_peak_gb', float('nan')):5.1f} GB  "
                + "  ".join(f"gen b={k} {v['ms_median']:.1f} ms" for k, v in g.items())
                + f"  loss {rec['final_loss']:.2f}  {rec['wall_s']:.0f} s")  # fmt: skip
        payload["elapsed_s"] = round(time.perf_counter() - start, 1)
        if on_progress:
            on_progress(payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    """Measure each fusion in turn, writing the results after each; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fusions", default=",".join(FUSIONS), help="comma-separated fusions (default: all five)")
    ap.add_argument("--preset", default="paper-base", help="model preset (default paper-base)")
    ap.add_argument("--batch", type=int, default=64, help="training batch, and the larger generate() batch (default 64)")
    ap.add_argument("--steps", type=int, default=200, help="timed training steps per fusion (default 200)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed training steps first (default 20)")
    ap.add_argument("--text-len", type=int, default=32, help="prompt tokens (default 32; at most the preset's text.max_len)")
    ap.add_argument("--target-len", type=int, default=8, help="target tokens (default 8)")
    ap.add_argument("--gen-repeats", type=int, default=10, help="timed generate() calls per batch size (default 10)")
    ap.add_argument("--device", default=None, help="cuda, cuda:1, cpu ... (default cuda when available)")
    ap.add_argument("--dtype", choices=["bf16", "fp32"], default=None, help="bf16 autocast or fp32 (default bf16 on CUDA, fp32 on CPU)")
    ap.add_argument("--budget-s", type=float, default=220.0, help="wall-time cap of the whole run, seconds (default 220)")
    ap.add_argument("--no-retry-oom", action="store_true", help="on out-of-memory, do not retry the fusion at half the batch")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="model config override, e.g. vision.image_size=384 (repeatable)"
    )
    ap.add_argument(
        "--flops-json",
        type=Path,
        default=ROOT / "results" / "flops.cpu.json",
        help="forward GFLOPs per sample to read (default benchmarks/results/flops.cpu.json)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "results", help="output folder (default benchmarks/results)")
    ap.add_argument("--compile", action="store_true", help="train through torch.compile (the forward; generate() stays eager)")
    ap.add_argument(
        "--compile-mode",
        default="default",
        choices=["default", "reduce-overhead", "max-autotune"],
        help="torch.compile mode with --compile",
    )
    ap.add_argument("--name", default=None, help="results file stem (default gpu_fusions, or gpu_fusions_compiled with --compile)")
    ap.add_argument("--quick", action="store_true", help="CPU, tiny preset, 2 steps, fp32, batch 4 (seconds; for tests)")
    args = ap.parse_args(argv)
    args.fusions = [f.strip() for f in args.fusions.split(",") if f.strip()]
    if args.quick:
        args.device, args.preset, args.steps, args.warmup, args.batch, args.gen_repeats = "cpu", "tiny", 2, 1, 4, 1
        args.dtype = args.dtype or "fp32"
    stem = args.name or ("gpu_fusions_compiled" if args.compile else "gpu_fusions")
    payload = run(args, lambda payload: write_results(args.out, stem, payload, markdown(payload)))
    log(f"wrote {args.out / stem}.md in {payload['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
