"""``jarvl train``: train a model from a YAML experiment, plain flags, or both."""

from __future__ import annotations

import argparse
import json

from jarvl.cli.arguments import BATCH, device_name, float_in, int_in


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = sub.add_parser(
        "train",
        help="train a model (single process, or DDP under torchrun)",
        description=(
            "Train a model. Datasets are specs FORMAT:PATH[:SPLIT] (synthetic:vqa:train?n=50000, jsonl:DIR, "
            "vqa2:ROOT:train2014, ...). Settings come from --config YAML, then the plain flags, then --set "
            "dotted overrides (e.g. --set optim.lr=3e-4). The same command under `torchrun --nproc_per_node=N` trains with DDP. "
            "Defaults: the recipe 'learns' (--recipe) beneath every key the YAML, flags and --set leave unset: the match "
            "read-outs, Eq. 3 on the image and text tokens, grounding and referring (objectives a fusion or a pretrained "
            "vision tower cannot carry are left out); lr 3e-4; gates (model.fusion.gate_init) auto: 1.0 (open) when the "
            "towers train from scratch, 0.0 (the image path starts as the identity) beside a pretrained backbone; with "
            "--init-from they come with the other run's weights (built with the same recipe and model keys)."
        ),
    )
    p.add_argument("--config", help="experiment YAML (see configs/)")
    p.add_argument("--out", required=True, help="run directory (checkpoints, metrics.jsonl, tb/, summary.json)")
    p.add_argument("--resume", action="store_true", help="continue exactly from the run directory's last checkpoint")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the run already in --out (without --resume or this, an existing run is refused)"
    )
    p.add_argument(
        "--recipe",
        choices=("learns", "paper"),
        help="model settings beneath the experiment's own: learns (default unless the YAML names one: what answers from "
        "the image, docs/recipe.md) or paper (the paper's plain JAR, the library's defaults)",
    )
    p.add_argument("--init-from", help="start from another run's weights and tokenizer (pre-train -> fine-tune)")
    p.add_argument("--model", help="model preset (model.preset)")
    p.add_argument("--fusion", help="fusion (model.fusion.name): jar, concat, cross_attention, perceiver, cotokenization")
    p.add_argument("--train", action="append", help="training dataset spec (repeatable)")
    p.add_argument("--val", action="append", help="validation dataset spec (repeatable)")
    p.add_argument("--max-steps", type=int_in(0), help="optimiser steps (run.max_steps; 0: evaluate and checkpoint the starting weights)")
    p.add_argument("--max-minutes", type=float_in(0), help="stop on wall time, then evaluate and checkpoint (run.max_minutes)")
    p.add_argument("--batch-size", type=BATCH, help="global batch (data.batch_size)")
    p.add_argument("--lr", type=float_in(0, 1, lo_open=True), help="peak learning rate (optim.lr)")
    p.add_argument("--device", type=device_name, help="cpu, cuda or auto (run.device)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="dotted config override (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def overrides_from_flags(args: argparse.Namespace) -> list[str]:
    """The plain flags as dotted overrides (applied before ``--set``)."""
    pairs = {
        "model.preset": args.model,
        "model.fusion.name": args.fusion,
        "run.max_steps": args.max_steps,
        "run.max_minutes": args.max_minutes,
        "data.batch_size": args.batch_size,
        "optim.lr": args.lr,
        "run.device": args.device,
    }
    out = [f"{k}={v}" for k, v in pairs.items() if v is not None]
    if args.quiet:
        out.append("run.progress=false")
    return out


def experiment_from_args(args: argparse.Namespace):
    """The experiment: YAML, then the plain flags, then ``--set`` (later wins)."""
    from jarvl.config import load_yaml
    from jarvl.train.config import build_experiment

    data = load_yaml(args.config) if args.config else {}
    # Dataset specs go in as lists, never through a comma-separated override: a spec's own
    # options may hold commas (families=attribute,exists).
    for key in ("train", "val"):
        if getattr(args, key):
            data.setdefault("data", {})[key] = list(getattr(args, key))
    if args.recipe:
        data["recipe"] = args.recipe
    data.setdefault("recipe", "learns")
    return build_experiment(data, overrides_from_flags(args) + list(args.set))


def run(args: argparse.Namespace) -> int:
    """Build the experiment, train, print the summary."""
    from jarvl.train.trainer import Trainer

    cfg = experiment_from_args(args)
    trainer = Trainer(cfg, args.out, resume=args.resume, overwrite=args.overwrite, init_from=args.init_from)
    summary = trainer.fit()
    if trainer.info.main:
        final = summary["final"] or {}
        print(
            json.dumps(
                {
                    "steps": summary["steps"],
                    "samples": summary["samples"],
                    "elapsed_s": round(summary["elapsed_s"], 1),
                    "accuracy": final.get("accuracy"),
                    "per_family": final.get("per_family"),
                    "skipped": summary["skip_summary"],
                },
                indent=1,
            )
        )
    from jarvl.train import distributed

    distributed.cleanup(trainer.info)
    return 0
