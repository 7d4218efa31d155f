"""``jarvl serve``: a page and a JSON API that answer questions about an image with a trained model."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from jarvl.cli.arguments import BEAMS, device_name, float_in, int_in

PORT = int_in(0, 65535)  # 0: any free port (the one taken is printed)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    p = sub.add_parser(
        "serve", help="serve a page and a JSON API that answer questions about an image",
        description="Serve --checkpoint over HTTP: a page (upload or pick an image, ask, see the answer and where "
        "the model looked) and POST /v1/answer (multipart: an 'image' file and 'question' fields).",
    )  # fmt: skip
    p.add_argument("--checkpoint", required=True, help="run directory or checkpoint folder (safetensors)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=PORT, default=8000, help="port (default 8000; 0 = any free one)")
    p.add_argument("--json", action="store_true", help="log each request as one JSON line (time, sizes, status, latency)")
    p.add_argument("--beams", type=BEAMS, default=1, help="beam search width (1 = greedy)")
    p.add_argument("--device", type=device_name, default="cpu")
    p.add_argument("--max-upload-mb", type=float_in(0, 1024, lo_open=True), default=8.0, help="request body limit (default 8)")
    p.add_argument("--max-pixels", type=int_in(1, 1 << 30), default=4096 * 4096, help="image pixels limit (default 4096x4096)")
    p.add_argument("--max-questions", type=int_in(1, 1024), default=16, help="questions per request (default 16)")
    p.add_argument("--max-question-chars", type=int_in(1, 100_000), default=500, help="characters per question (default 500)")
    p.add_argument("--max-pending", type=int_in(1, 100_000), default=64, help="requests waiting at once; more get 503 (default 64)")
    p.add_argument("--max-batch", type=int_in(1, 4096), default=64, help="questions per model call, across requests (default 64)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Listen, load the checkpoint, serve until interrupted."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ModuleNotFoundError as err:
        raise ValueError(f"jarvl serve needs the 'serve' extra ({err.name} is missing): pip install 'jarvl[serve]'") from None
    from jarvl.serve.limits import Limits

    limits = Limits(
        max_upload_bytes=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels, max_questions=args.max_questions,
        max_question_chars=args.max_question_chars, max_pending=args.max_pending, max_batch_questions=args.max_batch,
    )  # fmt: skip
    sock = _listen(args.host, args.port)  # before loading: a taken port fails at once
    try:
        _serve(args, sock, limits)
    finally:
        sock.close()
    return 0


def _serve(args: argparse.Namespace, sock, limits) -> None:
    import uvicorn

    from jarvl.inference import Predictor
    from jarvl.serve.app import build_app, json_line
    from jarvl.serve.engine import Engine

    predictor = Predictor(args.checkpoint, device=args.device, num_beams=args.beams)  # safetensors + JSON only

    def log(record: dict) -> None:
        if args.json:
            line = json_line(record)
        else:
            extra = "".join(f" {k}={record[k]}" for k in ("questions", "error") if k in record)
            line = f"{record['time']} {record['method']} {record['path']} {record['status']} {record['latency_ms']:.1f} ms{extra}"
        print(line, flush=True)

    engine = Engine(predictor, limits)
    try:
        app = build_app(engine, checkpoint=str(predictor.path), log=log)
        host, port = sock.getsockname()[:2]
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
        print(f"jarvl serve: {url} ({predictor.model.cfg.fusion.name}, {predictor.path}); Ctrl-C stops", flush=True)
        if not _loopback(args.host):
            print(f"jarvl serve: warning: listening on {args.host}: anyone who can reach this machine can use the model", file=sys.stderr)
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")).run(sockets=[sock])
    finally:
        engine.close()


def _listen(host: str, port: int):
    """A bound, listening TCP socket; a one-line error when the address cannot be had."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.set_inheritable(True)
    return sock


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
