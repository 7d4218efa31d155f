"""``python -m benchmarks run CONFIG [--quick] [--merge] [--from-json [PATH]] [--device cuda] [--out DIR] [--arms A,B] [--tasks T]``,
``python -m benchmarks combine CONFIG PART.json...``, ``python -m benchmarks report``, ``python -m benchmarks list``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description="jarvl's reproduction suite (benchmarks/README.md)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run one experiment config and write its result file and page")
    r.add_argument("config", help="benchmarks/configs/NAME.yaml, or NAME")
    r.add_argument("--quick", action="store_true", help="the config's quick variant (seconds), written to runs/benchmarks-quick")
    r.add_argument("--merge", action="store_true", help="keep the runs already in the result file that this invocation does not redo")
    r.add_argument("--from-json", nargs="?", const="", metavar="PATH", help="re-write the page from a result file, without measuring")
    r.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to train (names the result file)")
    r.add_argument("--out", type=Path, help="results folder (default benchmarks/results; --quick: runs/benchmarks-quick)")
    r.add_argument("--arms", help="only these arms, comma-separated (split an experiment over processes, then `combine`)")
    r.add_argument("--tasks", help="only these tasks, comma-separated (e.g. vqa)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change a setting, e.g. --set seeds=1 (repeatable)")
    c = sub.add_parser("combine", help="join result files of one config's parts (run --arms ...) into one result file and page")
    c.add_argument("config", help="benchmarks/configs/NAME.yaml, or NAME")
    c.add_argument("parts", nargs="+", type=Path, help="the parts' result files (CONFIG.DEVICE.json)")
    c.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    c.add_argument("--out", type=Path, help="results folder (default benchmarks/results)")
    rep = sub.add_parser("report", help="render REPORT.md from the result files there are")
    rep.add_argument("--results", type=Path, help="results folder (default benchmarks/results)")
    sub.add_parser("list", help="the configs, their kind and their result files")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        from benchmarks.run import main as run

        def names(value: str | None) -> list[str] | None:
            return [a.strip() for a in value.split(",") if a.strip()] if value else None

        run(
            args.config,
            quick=args.quick,
            merge=args.merge,
            from_json=args.from_json,
            device=args.device,
            out=args.out,
            arms=names(args.arms),
            tasks=names(args.tasks),
            overrides=args.set,
        )
    elif args.cmd == "combine":
        from benchmarks.run import combine

        combine(args.config, args.parts, device=args.device, out=args.out)
    elif args.cmd == "report":
        from benchmarks.report import main as report

        report(args.results)
    else:
        from benchmarks.config import all_configs, load
        from benchmarks.results import RESULTS

        for path in all_configs():
            exp, _ = load(path)
            found = sorted(p.name for p in RESULTS.glob(f"{exp.name}.*.json"))
            print(f"{exp.name:22s} {exp.kind:9s} {exp.title}  [{', '.join(found) or 'no results'}]")


if __name__ == "__main__":
    from jarvl.config import ConfigError

    try:
        main()
    except ConfigError as e:  # a bad config, --arms, --tasks or --set: one line, nothing measured
        raise SystemExit(f"python -m benchmarks: {e}") from None
