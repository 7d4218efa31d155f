"""``jarvl serve`` end to end: the real server on a free localhost port, driven by HTTP clients and by
headless Chromium (Debian's package, through Playwright's Python API; never a downloaded browser).

One tiny checkpoint (trained in process for a few seconds) and one server serve every test here.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from fixtures import noisy_bytes, tiny_checkpoint
from PIL import Image

from jarvl.data.synthetic import SyntheticDataset
from jarvl.inference import Predictor

UPLOAD_MB = 2  # the server runs with small limits so the over-size cases stay quick
MAX_PIXELS = 1_000_000


def png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("serve") / "ckpt", steps=12)


@pytest.fixture(scope="module")
def predictor(checkpoint) -> Predictor:
    return Predictor(checkpoint)


@pytest.fixture(scope="module")
def scenes() -> list:
    data = SyntheticDataset(task="vqa", split="test", size=50, seed=3)
    return [data[i] for i in range(len(data))]


class Server:
    """``jarvl serve`` in a subprocess; its stdout lines (the request log) collected in ``lines``."""

    def __init__(self, checkpoint: Path) -> None:
        cmd = [sys.executable, "-m", "jarvl.cli.main", "serve", "--checkpoint", str(checkpoint), "--port", "0", "--json",
               "--max-upload-mb", str(UPLOAD_MB), "--max-pixels", str(MAX_PIXELS)]  # fmt: skip
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self.url = None
        first = self.proc.stdout.readline()  # "jarvl serve: http://127.0.0.1:PORT/ (...)" once it listens
        if not first.startswith("jarvl serve: http://127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError(f"server did not start: {first!r} {self.proc.stderr.read()}")
        self.url = first.split()[2].rstrip("/")
        self.errors: list[str] = []  # stderr, drained so that a full pipe never blocks the server
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()
        threading.Thread(target=lambda: self.errors.extend(self.proc.stderr), daemon=True).start()

    def logs(self) -> list[dict]:
        return [json.loads(line) for line in list(self.lines)]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def server(checkpoint):
    srv = Server(checkpoint)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60, limits=httpx.Limits(max_connections=64)) as c:
        yield c


def ask(client, image: bytes, *questions: str, **extra) -> httpx.Response:
    data = {"question": list(questions), **extra}
    return client.post("/v1/answer", files={"image": ("scene.png", image, "image/png")}, data=data)


def assert_still_answering(client, scenes, predictor) -> None:
    s = scenes[0]
    r = ask(client, png(s.image), s.prompt)
    assert r.status_code == 200, r.text
    assert r.json()["answers"][0]["answer"] == predictor.ask(s.image, [s.prompt]).texts[0]


def test_ask_answers_several_questions_about_one_image_as_one_at_a_time(predictor, scenes):
    questions = [s.prompt for s in scenes[:4]]
    image = scenes[0].image
    together = predictor.ask(image, questions)
    assert together.texts == [predictor.answer(image, q) for q in questions]
    for q, text, score in zip(questions, together.texts, together.scores):
        alone = predictor.ask(image, [q])
        assert alone.texts == [text] and alone.scores[0] == pytest.approx(score, abs=1e-5)
        assert 0.0 < score <= 1.0
    # The score is P(answer): exp of minus the teacher-forced loss summed over the answer's tokens + EOS.
    ids, mask = predictor.collate.prompts(questions[:1])
    targets = predictor.tokenizer.encode_batch([together.texts[0]], add_eos=True, pad=True)
    pixels = predictor.collate.images([image])
    with torch.no_grad():
        loss = predictor.model(pixels, ids, mask, torch.tensor(targets)).loss
    assert together.scores[0] == pytest.approx(math.exp(-loss.item() * len(targets[0])), rel=1e-4)


def test_fifty_concurrent_requests_are_answered_correctly(client, server, predictor, scenes):
    requests = [(png(s.image), [s.prompt] + (["how many objects are there?"] if i % 2 else [])) for i, s in enumerate(scenes)]
    expected = [predictor.ask(s.image, qs) for s, (_, qs) in zip(scenes, requests)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda req: ask(client, req[0], *req[1]), requests))
    batches, firsts = [], []
    for (_, qs), want, r in zip(requests, expected, responses):
        assert r.status_code == 200, r.text
        body = r.json()
        assert [a["question"] for a in body["answers"]] == qs
        assert [a["answer"] for a in body["answers"]] == want.texts
        # Batched with other requests, the same numbers up to float rounding (~1e-7 here).
        assert [a["score"] for a in body["answers"]] == pytest.approx(want.scores, abs=2e-6)
        assert body["latency_ms"] > 0 and body["model_ms"] > 0
        batches.append(body["batch_questions"])
        firsts.append(body["answers"][0]["score"])
    # A tiny model's answers hardly depend on the image, but its scores do: most requests are told
    # apart by them, so an answer sent back to the wrong request would have shown above.
    mine = np.array([e.scores[0] for e in expected])
    unique = sum(int((np.abs(mine - got) < 2e-6).sum() == 1) for got in firsts)
    assert unique >= 35, unique
    assert max(batches) > 2  # requests waiting together were answered in one model call


@pytest.mark.parametrize(
    "case,status,code,words",
    [
        ("over-size upload", 413, "upload_too_large", f"limit is {UPLOAD_MB} MB"),
        ("over-size chunked upload", 413, "upload_too_large", "limit is"),
        ("1x1 image", 422, "image_too_small", "1x1 pixels"),
        ("too many pixels", 413, "image_too_large", "> 1000000 pixels"),
        ("non-image file", 415, "not_an_image", "not an image"),
        ("truncated image", 415, "not_an_image", "truncated"),
        ("empty question", 400, "empty_question", "question 2 is empty"),
        ("no question", 400, "no_question", "'question'"),
        ("question too long", 413, "question_too_long", "at most 500"),
        ("10,000 questions", 413, "too_many_questions", "10000 questions in one request; at most 16"),
        ("no image", 400, "no_image", "exactly one 'image' file"),
        ("not multipart", 415, "not_multipart", "multipart/form-data"),
    ],
)
def test_bad_requests_get_a_clear_error_and_the_server_goes_on(client, scenes, predictor, case, status, code, words):
    good = png(scenes[0].image)
    if case == "over-size upload":
        r = ask(client, os.urandom(UPLOAD_MB * 2**20 + 1000), "what is it?")
    elif case == "over-size chunked upload":  # no Content-Length: the limit holds while streaming
        boundary = "jarvlboundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n"
                "Content-Type: image/png\r\n\r\n").encode()  # fmt: skip
        chunks = iter([head] + [b"\0" * 65536] * (UPLOAD_MB * 16 + 4) + [f"\r\n--{boundary}--\r\n".encode()])
        r = client.post("/v1/answer", content=chunks, headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    elif case == "1x1 image":
        r = ask(client, png(np.zeros((1, 1, 3), np.uint8)), "what is it?")
    elif case == "too many pixels":
        r = ask(client, png(np.zeros((1000, 1001, 3), np.uint8)), "what is it?")
    elif case == "non-image file":
        r = ask(client, b"%PDF-1.4 not an image at all", "what is it?")
    elif case == "truncated image":
        r = ask(client, noisy_bytes(64, "PNG")[:2000], "what is it?")
    elif case == "empty question":
        r = ask(client, good, "is there a red circle?", "   ")
    elif case == "no question":
        r = ask(client, good)
    elif case == "question too long":
        r = ask(client, good, "why? " * 200)
    elif case == "10,000 questions":
        r = ask(client, good, *[f"is there a red circle {k}?" for k in range(10_000)])
    elif case == "no image":
        r = client.post("/v1/answer", data={"question": "what is it?"}, files={"other": ("a.txt", b"x")})
    else:
        r = client.post("/v1/answer", json={"image": "/etc/passwd", "question": "what is it?"})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and words in error["message"], error
    assert_still_answering(client, scenes, predictor)


def test_attention_maps_of_the_image_resampler_and_the_fused_tokens(client, scenes):
    r = ask(client, png(scenes[1].image), scenes[1].prompt, "is there a red circle?", attention="1")
    att = r.json()["attention"]
    assert att["grid"] == 8 and att["notes"] == []
    layers = {layer["key"]: layer for layer in att["layers"]}
    assert set(layers) == {"attn/image_resampler", "attn/fuse0", "attn/fuse1"}
    resampler = np.array(layers["attn/image_resampler"]["maps"])  # question-free: (N, M)
    assert resampler.shape == (16, 64) and np.allclose(resampler.sum(-1), 1, atol=1e-2)
    fused = np.array(layers["attn/fuse1"]["maps"])  # per question, through the resampler: (B, N, M)
    assert fused.shape == (2, 16, 64) and np.allclose(fused.sum(-1), 1, atol=1e-2)
    assert "through the image resampler" in layers["attn/fuse1"]["title"]


def test_request_log_is_one_json_line_per_request(server, client, scenes):
    ask(client, png(scenes[2].image), "is there a red circle?", "how many objects are there?")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(rec.get("questions") == 2 for rec in server.logs()):
        time.sleep(0.05)
    records = server.logs()
    record = [rec for rec in records if rec.get("questions") == 2][-1]
    assert {"time", "method", "path", "status", "request_bytes", "response_bytes", "latency_ms", "image"} <= record.keys()
    assert record["path"] == "/v1/answer" and record["status"] == 200 and record["image"] == [64, 64]
    assert any(rec.get("error") == "upload_too_large" and rec["status"] == 413 for rec in records)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_page_in_headless_chromium(server, predictor, scenes, tmp_path):
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("no chromium executable: scripts/setup.sh installs Debian's 'chromium' package (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    scene = scenes[4]
    upload = tmp_path / "scene.png"
    upload.write_bytes(png(scene.image))
    want = predictor.ask(scene.image, [scene.prompt])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server.url + "/")
            page.wait_for_selector("body[data-ready='1']")
            page.set_input_files("#file", str(upload))
            page.fill("#question", scene.prompt)
            page.click("#ask")
            page.wait_for_selector("#answer")
            assert page.inner_text("#answer") == (want.texts[0] or "(empty answer)")
            assert f"score {100 * want.scores[0]:.1f}%" in page.inner_text("#answers")
            page.wait_for_selector("#overlay[data-drawn='1']")
            # The overlay is the image with the attention heat map over it: its pixels differ from
            # the plain image drawn in the preview, and every one of the 16 token maps is drawn.
            differ = page.evaluate("""() => {
                const a = document.getElementById('overlay').getContext('2d').getImageData(0, 0, 300, 300).data;
                const b = document.getElementById('preview').getContext('2d').getImageData(0, 0, 300, 300).data;
                let n = 0; for (let i = 0; i < a.length; i += 4) if (Math.abs(a[i] - b[i]) + Math.abs(a[i+1] - b[i+1]) > 30) n++;
                return n / (a.length / 4);
            }""")
            assert differ > 0.5
            assert page.eval_on_selector_all("#maps canvas[data-drawn='1']", "els => els.length") == 16
            assert "image resampler" in page.inner_text("#layer")
            page.screenshot(path=str(tmp_path / "serve.png"), full_page=True)
            # A built-in example scene, picked on the page, is answered the same way.
            page.click("#examples img[data-id='2']")
            page.wait_for_function("document.getElementById('question').value.length > 0")
            page.click("#ask")
            page.wait_for_selector("#answer")
            assert page.inner_text("#answer")
        finally:
            browser.close()
    assert (tmp_path / "serve.png").stat().st_size > 10_000


def test_the_library_never_imports_the_server():
    # Layering: cli -> serve -> inference -> models, data; nothing below the command line imports it.
    import ast

    root = Path(__file__).resolve().parents[1] / "src" / "jarvl"
    library = [p for d in ("models", "data", "evaluation", "train", "profiling") for p in (root / d).rglob("*.py")]
    for path in library + [root / "inference.py", root / "config.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert not name.startswith(("jarvl.serve", "jarvl.cli", "starlette", "uvicorn")), f"{path} imports {name}"


def test_serve_refuses_a_taken_port_and_a_missing_checkpoint_in_one_line(tmp_path, capsys):
    import socket

    from jarvl.cli.main import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--checkpoint", str(tmp_path), "--port", str(port)]) == 2
        assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert main(["serve", "--checkpoint", str(tmp_path / "nowhere"), "--port", "0"]) == 2
    assert "no checkpoint found" in capsys.readouterr().err
