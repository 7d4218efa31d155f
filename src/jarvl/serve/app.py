"""The Starlette app: the page, ``POST /v1/answer``, the example scenes, and request logging.

Every refusal is a 4xx JSON answer ``{"error": {"code", "message"}}``, raised as ``RequestError``
before the model sees anything. Images are decoded only from the uploaded bytes, through the
readers' guarded loader (``jarvl.data.images.decode_image``: size checked before decoding,
decompression bombs and truncated files refused); no path from a request is ever opened (the
examples are addressed by number and drawn in memory).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import resources

import torch
from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from jarvl.data.bad_records import BadRecord
from jarvl.data.images import decode_image
from jarvl.serve.attention import image_maps
from jarvl.serve.engine import Engine, Job
from jarvl.serve.limits import Limits, RequestError

EXAMPLES = 8  # built-in synthetic test scenes offered on the page
_BAD_IMAGE = {  # the guarded loader's reasons -> HTTP status, code
    "empty_image": (400, "empty_image"),
    "corrupt_image": (415, "not_an_image"),
    "image_too_large": (413, "image_too_large"),
}


def _mb(n: int) -> str:
    return f"{n / 2**20:g} MB"


class Guard:
    """ASGI middleware: caps the request body at ``limit`` bytes and logs every request.

    A body declared (Content-Length) or found (while streaming) to be larger is refused with 413.
    The excess is read and dropped, up to 4x the limit, so that the client, still sending, gets the
    answer rather than a reset connection; memory use does not grow with it.
    """

    def __init__(self, app, limit: int, log: Callable[[dict], None]) -> None:
        self.app, self.limit, self.log = app, limit, log

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        state = scope.setdefault("state", {})
        seen = {"bytes": 0, "status": 0, "more": True, "sent": 0}

        async def drain() -> None:
            while seen["more"] and seen["bytes"] <= 4 * self.limit:
                message = await receive()
                seen["bytes"] += len(message.get("body", b""))
                seen["more"] = message.get("more_body", False) and message["type"] == "http.request"

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                seen["bytes"] += len(message.get("body", b""))
                seen["more"] = message.get("more_body", False)
                if seen["bytes"] > self.limit:
                    await drain()
                    raise _too_large(self.limit)
            return message

        async def logged_send(message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                seen["sent"] += len(message.get("body", b""))
            await send(message)

        try:
            declared = int(dict(scope["headers"]).get(b"content-length", b"0") or 0)
        except ValueError:
            declared = 0
        try:
            if declared > self.limit:
                await drain()
                err = _too_large(self.limit, declared)
                state["error"] = err.code
                await JSONResponse(err.body(), status_code=err.status)(scope, receive, logged_send)
            else:
                await self.app(scope, limited_receive, logged_send)
        finally:
            self.log({
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "method": scope["method"], "path": scope["path"], "status": seen["status"],
                "request_bytes": max(declared, seen["bytes"]), "response_bytes": seen["sent"], **state.get("log", {}),
                **({"error": state["error"]} if "error" in state else {}),
                "latency_ms": round((time.perf_counter() - start) * 1e3, 2),
            })  # fmt: skip


def _too_large(limit: int, size: int | None = None) -> RequestError:
    got = f"{size} bytes" if size else "more"
    return RequestError(413, "upload_too_large", f"the request holds {got}; the limit is {_mb(limit)} (--max-upload-mb)")


def build_app(engine: Engine, *, checkpoint: str, log: Callable[[dict], None] = lambda record: None) -> Starlette:
    """The app answering with ``engine``'s model, logging each request through ``log``."""
    limits: Limits = engine.limits
    predictor = engine.predictor
    cfg = predictor.model.cfg
    size = cfg.vision.image_size
    with torch.no_grad():  # M, the image tokens the encoder gives (a class token included)
        num_image_tokens = predictor.model.image_encoder(torch.zeros(1, 3, size, size, device=predictor.device)).shape[1]
    decoding = asyncio.Semaphore(2)  # full-size decoded images in memory at once
    page = resources.files("jarvl.serve").joinpath("page.html").read_text(encoding="utf-8")
    examples = _examples(size)
    info = {
        "checkpoint": checkpoint, "fusion": cfg.fusion.name, "image_size": size, "image_tokens": num_image_tokens,
        "limits": {k: getattr(limits, k) for k in ("max_upload_bytes", "max_pixels", "min_side", "max_question_chars", "max_questions")},
        "examples": [{"id": i, "url": f"/v1/examples/{i}.png", "question": s.prompt, "truth": s.target} for i, s in enumerate(examples)],
    }  # fmt: skip

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def model_info(request: Request) -> Response:
        return JSONResponse(info)

    async def example(request: Request) -> Response:
        i = request.path_params["i"]
        if not 0 <= i < len(examples):
            raise RequestError(404, "no_such_example", f"examples are numbered 0 to {len(examples) - 1}")
        buf = io.BytesIO()
        Image.fromarray(examples[i].image).save(buf, format="PNG")
        return Response(buf.getvalue(), media_type="image/png")

    async def answer(request: Request) -> Response:
        start = time.perf_counter()
        log = request.state.log = {}
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise RequestError(415, "not_multipart", "send multipart/form-data with an 'image' file and one or more 'question' fields")
        # Parts are bounded by the body limit (Guard); the counts are checked below with their own messages.
        form = await request.form(max_files=4, max_fields=limits.max_upload_bytes // 64 + 16, max_part_size=limits.max_upload_bytes)
        try:
            questions = _questions(form.getlist("question"), limits)
            log["questions"] = len(questions)
            upload = _one_image(form.getlist("image"))
            data = await upload.read()
        finally:
            await form.close()
        async with decoding:
            image, pixels = await run_in_threadpool(_decode, data, limits, predictor)
        log["image"] = [image[1], image[0]]
        attention = str(form.get("attention", "")).lower() in ("1", "true", "yes", "on")
        result = await asyncio.wrap_future(engine.submit(Job(pixels, questions, attention)))
        out = result.answers
        body = {
            "answers": [{"question": q, "answer": a, "score": round(s, 8)} for q, a, s in zip(questions, out.texts, out.scores)],
            "image": {"width": image[1], "height": image[0]},
            "latency_ms": round((time.perf_counter() - start) * 1e3, 2),
            "queue_ms": round(result.queue_ms, 2), "model_ms": round(result.model_ms, 2),
            "batch_questions": result.batch_questions,
        }  # fmt: skip
        if attention:
            body["attention"] = image_maps(out.attention, out.mask, num_image_tokens, cfg.fusion.name)
        log["batch_questions"] = result.batch_questions
        return JSONResponse(body)

    async def refused(request: Request, err: RequestError) -> Response:
        request.state.error = err.code
        return JSONResponse(err.body(), status_code=err.status)

    async def http_error(request: Request, err: HTTPException) -> Response:
        # Starlette's own refusals (a malformed multipart body, an unknown route, a wrong method).
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        request.state.error = code
        return JSONResponse({"error": {"code": code, "message": str(err.detail)}}, status_code=err.status_code)

    async def failed(request: Request, err: Exception) -> Response:
        request.state.error = "internal"
        return JSONResponse({"error": {"code": "internal", "message": f"{type(err).__name__}: {err}"}}, status_code=500)

    routes = [
        Route("/", index),
        Route("/v1/info", model_info),
        Route("/v1/examples/{i:int}.png", example),
        Route("/v1/answer", answer, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={RequestError: refused, HTTPException: http_error, Exception: failed})
    return Guard(app, limits.max_upload_bytes, log)


def _questions(values: list, limits: Limits) -> list[str]:
    if not values:
        raise RequestError(400, "no_question", "add one or more 'question' fields")
    if len(values) > limits.max_questions:
        raise RequestError(
            413, "too_many_questions", f"{len(values)} questions in one request; at most {limits.max_questions} (--max-questions)"
        )
    out = []
    for k, value in enumerate(values, 1):
        if not isinstance(value, str):
            raise RequestError(400, "bad_question", f"question {k} is a file; send the question as text")
        text = " ".join(value.split())
        if not text:
            raise RequestError(400, "empty_question", f"question {k} is empty")
        if len(text) > limits.max_question_chars:
            raise RequestError(
                413,
                "question_too_long",
                f"question {k} has {len(text)} characters; at most {limits.max_question_chars} (--max-question-chars)",
            )
        out.append(text)
    return out


def _one_image(values: list) -> UploadFile:
    if len(values) != 1:
        raise RequestError(400, "no_image" if not values else "several_images", f"send exactly one 'image' file (got {len(values)})")
    if not isinstance(values[0], UploadFile):
        raise RequestError(400, "image_not_a_file", "'image' must be a file upload, not a text field")
    return values[0]


def _decode(data: bytes, limits: Limits, predictor):
    """(height, width) and the model's input float[3, S, S] of the uploaded bytes (a thread-pool thread)."""
    try:
        image = decode_image(data, "upload", limits.max_pixels, where="the uploaded image")
    except BadRecord as bad:
        status, code = _BAD_IMAGE.get(bad.reason, (400, bad.reason))
        detail = re.sub(r" <_io\.BytesIO object at 0x[0-9a-f]+>", "", bad.detail)
        what = {"not_an_image": "not an image in a format Pillow reads, or truncated"}.get(code, bad.reason)
        raise RequestError(status, code, f"cannot use the uploaded file ({what}): {detail}") from None
    h, w = image.shape[:2]
    if min(h, w) < limits.min_side:
        raise RequestError(422, "image_too_small", f"the image is {w}x{h} pixels; each side must be at least {limits.min_side}")
    return (h, w), predictor.collate.images([image])[0]


def _examples(size: int) -> list:
    """The built-in synthetic test scenes, drawn at the model's image size (default scenes if it cannot)."""
    from jarvl.data.synthetic import SynthConfig, SyntheticDataset

    try:
        data = SyntheticDataset(task="vqa", split="test", size=EXAMPLES, seed=0, config=SynthConfig(image_size=size))
    except ValueError:
        data = SyntheticDataset(task="vqa", split="test", size=EXAMPLES, seed=0)
    return [data[i] for i in range(EXAMPLES)]


def json_line(record: dict) -> str:
    """One request log line for ``--json``."""
    return json.dumps(record, separators=(",", ":"))
