"""``jarvl predict``: answer one question about one image."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand."""
    p = sub.add_parser("predict", help="answer a question about an image", description="Print the model's answer to --question about --image.")
    p.add_argument("--checkpoint", required=True, help="run directory or checkpoint folder")
    p.add_argument("--image", required=True, help="image file (any format Pillow reads)")
    p.add_argument("--question", required=True, help="the question (or prompt, e.g. 'describe the image.')")
    p.add_argument("--beams", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, answer, print."""
    import numpy as np
    from PIL import Image, ImageOps

    from jarvl.inference import Predictor

    try:
        with Image.open(args.image) as img:
            image = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {args.image}") from None
    except OSError as err:
        raise ValueError(f"{args.image}: cannot read image: {err}") from None
    if not args.question.strip():
        raise ValueError("--question is empty")
    answer = Predictor(args.checkpoint, device=args.device, num_beams=args.beams).answer(image, args.question)
    print(answer)
    if not answer:
        import sys

        print("(the model generated an empty answer: end-of-sequence came first)", file=sys.stderr)
    return 0
