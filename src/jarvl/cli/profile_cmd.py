"""``jarvl profile``: FLOPs per part, parameters, training-step memory and latency, per fusion."""

from __future__ import annotations

import argparse
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from jarvl.cli.arguments import BATCH, device_name, int_in


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``profile`` subcommand."""
    p = sub.add_parser(
        "profile",
        help="FLOPs, memory and latency of fusions",
        description=(
            "Profile a model preset with one or more fusions. GFLOPs are per sample, forward pass, "
            "counted with torch.utils.flop_counter (FLOPs = 2 x multiply-adds; attention included). "
            "activation_mb: bytes autograd saves for backward in one training step of --batch samples "
            "(saved-tensor hooks); step_peak_mb: rise of the process peak memory during that step; "
            "latency_ms: median inference forward pass of the batch; step ms: median training step "
            "(forward + backward); GFLOP/s: its counted forward + backward FLOPs over that time; of peak: "
            "the share of this machine's fp32 matmul peak, measured in the same process."
        ),
    )
    p.add_argument("--model", help="preset name (see `jarvl models`); default paper-base, or the --config's model")
    p.add_argument("--config", help="experiment YAML (as for jarvl train): profile its model section")
    p.add_argument("--fusion", help="comma-separated fusions, or 'all'; default concat,jar, or the --config's fusion")
    p.add_argument("--image-size", type=int_in(8, 4096), help="override vision.image_size (more image tokens)")
    p.add_argument("--batch", type=BATCH, default=2, help="training/inference batch for memory and latency (default 2)")
    p.add_argument("--text-len", type=int_in(1, 4096), help="prompt tokens (default: the preset's text.max_len)")
    p.add_argument("--target-len", type=int_in(1, 4096), default=8, help="decoder target tokens (default 8)")
    p.add_argument("--repeats", type=int_in(1, 1000), default=3, help="timed runs for latency (median; default 3)")
    p.add_argument("--no-timing", action="store_true", help="skip latency and step time (FLOPs and memory only)")
    p.add_argument("--device", type=device_name, default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model config override, e.g. fusion.num_tokens=32 or text.backbone=DIR (a 'model.' prefix, as in jarvl train, is accepted)",
    )
    p.add_argument("--no-isolate", action="store_true", help="profile in this process (peak memory then depends on order)")
    p.add_argument("--json", action="store_true", help="print one JSON list of records")
    p.set_defaults(func=run)


def model_config(base: dict | str, fusion: str, overrides: list[str]):
    """The model config to profile: ``base`` (a preset name, or a model config dict) with ``fusion``
    and dotted overrides.

    Backbones are resolved from their directories; with a text backbone, the vocabulary and
    special ids are its tokenizer's, as in training.
    """
    from jarvl.config import apply_overrides, from_dict
    from jarvl.models import ModelConfig, get_preset
    from jarvl.models.pretrained import resolve_backbones
    from jarvl.train.run_tokenizer import backbone_tokenizer, fit_model_to_tokenizer

    start = get_preset(base) if isinstance(base, str) else from_dict(ModelConfig, base)
    cfg = apply_overrides(start, [f"fusion.name={fusion}", *overrides])
    resolve_backbones(cfg)
    tokenizer = backbone_tokenizer(cfg)
    return fit_model_to_tokenizer(cfg, tokenizer) if tokenizer else cfg


def profile_one(base: dict | str, fusion: str, overrides: list[str], kwargs: dict) -> dict:
    """Profile one model (a preset name or a model config dict) x fusion, with dotted overrides; returns the record as a dict."""
    from jarvl.profiling import profile_model

    return profile_model(model_config(base, fusion, overrides), **kwargs).as_dict()


def base_model(args: argparse.Namespace) -> dict:
    """The model section to start from: --config's (its preset and overrides), else the --model preset."""
    from jarvl.config import load_yaml, to_dict
    from jarvl.models import get_preset
    from jarvl.train.config import build_experiment

    if args.config:
        data = load_yaml(args.config)
        model = dict(data.get("model") or {})
        if args.model:
            model["preset"] = args.model
        return to_dict(build_experiment({"model": model}).model)
    return to_dict(get_preset(args.model or "paper-base"))


def run(args: argparse.Namespace) -> int:
    """Profile each fusion and print a table (or JSON)."""
    from jarvl.devices import resolve_device
    from jarvl.models import list_fusions

    resolve_device(args.device)
    base = base_model(args)
    names = args.fusion or (base["fusion"]["name"] if args.config else "concat,jar")
    fusions = list_fusions() if names == "all" else [f.strip() for f in names.split(",") if f.strip()]
    overrides = [item[len("model.") :] if item.startswith("model.") else item for item in args.set]
    if args.image_size:
        overrides.append(f"vision.image_size={args.image_size}")
    for fusion in fusions:  # fail at start, not after an hour of profiling
        model_config(base, fusion, overrides)
    kwargs = dict(
        batch=args.batch,
        text_len=args.text_len,
        target_len=args.target_len,
        repeats=args.repeats,
        device=args.device,
        timing=not args.no_timing,
    )
    records = []
    for fusion in fusions:
        if args.no_isolate:
            records.append(profile_one(base, fusion, overrides, kwargs))
        else:
            # A fresh process per fusion, so each one's peak memory is its own.
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
                records.append(pool.submit(profile_one, base, fusion, overrides, kwargs).result())
    if args.json:
        print(json.dumps(records, indent=1))
    else:
        print_table(records)
    return 0


def print_table(records: list[dict]) -> None:
    """A human-readable table of profile records, with each fusion's ratio to the first one."""
    from rich.table import Table

    from jarvl.cli.console import console

    r0 = base = records[0]
    table = Table(
        title=f"{r0['preset']} @ {r0['image_size']}px ({r0['image_tokens']} image tokens, {r0['text_len']} text tokens); "
        f"GFLOPs per sample (2 x MACs), memory for a batch of {r0['batch']}"
    )
    cols = [
        "fusion",
        "GFLOPs",
        "x " + base["fusion"],
        "image",
        "text",
        "fusion",
        "decoder",
        "params",
        "act. MB",
        "x " + base["fusion"],
        "step peak MB",
        "latency ms",
        "step ms",
        "GFLOP/s",
        "of peak",
    ]
    for c in cols:
        table.add_column(c, justify="left" if c == "fusion" else "right")
    for r in records:
        fmt = lambda v, p=1: "-" if v is None else f"{v:.{p}f}"  # noqa: E731
        table.add_row(
            r["fusion"],
            fmt(r["gflops"], 2),
            fmt(r["gflops"] / base["gflops"], 2),
            fmt(r["gflops_image"], 2),
            fmt(r["gflops_text"], 2),
            fmt(r["gflops_fusion"], 2),
            fmt(r["gflops_decoder"], 2),
            f"{r['params'] / 1e6:.1f}M",
            fmt(r["activation_mb"]),
            fmt(r["activation_mb"] / base["activation_mb"], 2),
            fmt(r["step_peak_mb"], 0),
            fmt(r["latency_ms"]),
            fmt(r["train_step_ms"]),
            fmt(r["achieved_gflop_per_s"]),
            "-" if r["fraction_of_peak"] is None else f"{r['fraction_of_peak']:.0%}",
        )
    console().print(table)
