"""``jarvl predict``: answer one question about one image."""

from __future__ import annotations

import argparse

from jarvl.cli.arguments import BEAMS, device_name


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand."""
    p = sub.add_parser(
        "predict", help="answer a question about an image", description="Print the model's answer to --question about --image."
    )
    p.add_argument("--checkpoint", required=True, help="run directory or checkpoint folder")
    p.add_argument("--image", required=True, help="image file (any format Pillow reads)")
    p.add_argument("--question", required=True, help="the question (or prompt, e.g. 'describe the image.')")
    p.add_argument("--beams", type=BEAMS, default=1, help="beam search width (1 = greedy)")
    p.add_argument("--device", type=device_name, default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, answer, print."""
    from jarvl.data.bad_records import BadRecord
    from jarvl.data.images import load_image
    from jarvl.inference import Predictor

    if not args.question.strip():
        raise ValueError("--question is empty")
    try:
        # The readers' guarded loader: size checked before decoding (decompression bombs), every mode RGB.
        image = load_image(args.image, args.image)
    except BadRecord as bad:
        if bad.reason == "missing_image":
            raise FileNotFoundError(f"image not found: {args.image}") from None
        raise ValueError(f"--image {args.image}: cannot use this image ({bad.reason}): {bad.detail}") from None
    answer = Predictor(args.checkpoint, device=args.device, num_beams=args.beams).answer(image, args.question)
    print(answer)
    if not answer:
        import sys

        print("(the model generated an empty answer: end-of-sequence came first)", file=sys.stderr)
    return 0
