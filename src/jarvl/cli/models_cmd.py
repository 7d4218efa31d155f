"""``jarvl models``: list the presets and fusions, with their sizes."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``models`` subcommand."""
    p = sub.add_parser("models", help="list model presets and fusions", description="List every model preset and fusion.")
    p.add_argument("--params", action="store_true", help="also build each preset x fusion and count its parameters")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the presets (with their main dimensions) and the registered fusions."""
    from rich.table import Table

    from jarvl.cli.console import console
    from jarvl.models import build_model, get_preset, list_fusions, list_presets

    table = Table(title="jarvl model presets (every preset builds with every fusion)")
    for col in ("preset", "image", "patch/stem", "img tokens", "width", "ViT/text/dec depth", "N", "iters x layers"):
        table.add_column(col)
    if args.params:
        for fusion in list_fusions():
            table.add_column(f"params {fusion}", justify="right")
    for name in list_presets():
        c = get_preset(name)
        row = [
            name,
            f"{c.vision.image_size}px",
            f"{c.vision.patch_size}/{c.vision.stem}",
            str(c.vision.num_tokens),
            str(c.width),
            f"{c.vision.depth}/{c.text.depth}/{c.decoder.depth}",
            str(c.fusion.num_tokens),
            f"{c.fusion.iterations} x {c.fusion.layers_per_iteration}" + (", shared" if c.fusion.share_iterations else ""),
        ]
        if args.params:
            row += [f"{sum(p.numel() for p in build_model(name, f).parameters()) / 1e6:.1f}M" for f in list_fusions()]
        table.add_row(*row)
    out = console()
    out.print(table)
    out.print("fusions: " + ", ".join(list_fusions()) + "   (choose with --fusion NAME or --set fusion.name=NAME)")
    return 0
