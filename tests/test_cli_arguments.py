"""Every argument checked at the door: out-of-range numbers, bad output paths and bad images are a
one-line error with exit status 2, no traceback, and nothing written (in process: no model, no data)."""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import struct
import tempfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jarvl.cli.arguments import Range, check_output_file, float_in, int_in
from jarvl.cli.main import build_parser, main


def _subparsers(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command path, parser) of every subcommand, nested ones (``data synth``) included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _subparsers(sub, (*prefix, name))


def numeric_options() -> list[tuple[tuple[str, ...], str, Range, bool]]:
    """(command, option, its Range, whether the command takes --out) for every numeric option."""
    found = []
    for command, sub in _subparsers(build_parser()):
        has_out = any("--out" in a.option_strings for a in sub._actions)
        for action in sub._actions:
            if isinstance(action.type, Range):
                found.append((command, action.option_strings[-1], action.type, has_out))
    return found


OPTIONS = numeric_options()


def test_every_numeric_option_has_a_range():
    # No bare type=int / type=float anywhere: each number goes through a Range.
    for command, sub in _subparsers(build_parser()):
        for action in sub._actions:
            assert action.type not in (int, float), (command, action.option_strings)
    commands = {c for c, *_ in OPTIONS}
    assert {("train",), ("eval",), ("predict",), ("demo",), ("profile",), ("data", "synth")} <= commands
    assert len(OPTIONS) >= 20


def out_of_range(r: Range) -> st.SearchStrategy[str]:
    """Text of a value that ``r`` must refuse: below, above, not finite, not a number."""
    if r.kind is int:
        below = st.integers(max_value=int(r.lo) - 1)
        above = st.integers(min_value=int(r.hi) + 1) if r.hi is not None else st.nothing()
        junk = st.sampled_from(["1.5", "ten", "", "0x10", "1e3"])
    else:
        below = st.floats(max_value=r.lo, exclude_max=not r.lo_open, allow_nan=False)
        above = st.floats(min_value=r.hi, exclude_min=True, allow_nan=False) if r.hi is not None else st.nothing()
        junk = st.sampled_from(["nan", "inf", "-inf", "ten", ""])
    return st.one_of(below.map(str), above.map(str), junk)


def run_in_process(argv: list[str]) -> tuple[int, str]:
    """(exit status, stderr) of ``jarvl ARGV`` run here."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
    return code, err.getvalue()


def assert_refused(code: int, stderr: str, *names: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, stderr
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "error:" in lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_out_of_range_numbers_are_refused_before_anything_is_written(data):
    command, option, r, has_out = data.draw(st.sampled_from(OPTIONS), label="option")
    value = data.draw(out_of_range(r), label="value")
    with tempfile.TemporaryDirectory() as tmp:
        argv = [*command] + (["--out", os.path.join(tmp, "out")] if has_out else []) + [f"{option}={value}"]
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            code, stderr = run_in_process(argv)
        finally:
            os.chdir(cwd)
        assert_refused(code, stderr, option)
        assert os.listdir(tmp) == []


# Config values that the flags do not cover, given with --set: checked before the run directory is touched.
SET_BOUNDS = {
    "run.max_steps": -1,
    "run.eval_samples": 0,
    "run.log_every": 0,
    "run.seed": -3,
    "run.max_minutes": "nan",
    "data.batch_size": 0,
    "data.num_workers": -1,
    "data.max_bad_fraction": 1.5,
    "data.vocab_size": 2,
    "optim.lr": 0,
    "optim.accumulation": 0,
    "optim.warmup_steps": -5,
    "optim.beta2": 1.0,
    "run.device": "gpu",
}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(SET_BOUNDS)))
def test_out_of_range_config_values_are_refused_before_anything_is_written(key):
    with tempfile.TemporaryDirectory() as tmp:
        code, stderr = run_in_process(["train", "--out", os.path.join(tmp, "run"), "--set", f"{key}={SET_BOUNDS[key]}"])
        assert_refused(code, stderr, key)
        assert os.listdir(tmp) == []


def test_typod_fusion_and_unknown_key_leave_nothing(tmp_path):
    code, stderr = run_in_process(["train", "--out", str(tmp_path / "run"), "--fusion", "jarr"])
    assert_refused(code, stderr, "unknown fusion 'jarr'", "did you mean 'jar'")
    code, stderr = run_in_process(["train", "--out", str(tmp_path / "run"), "--set", "lr=1e-3"])
    assert_refused(code, stderr, "did you mean 'optim.lr'")
    assert list(tmp_path.iterdir()) == []


def test_range_unit():
    r = int_in(1, 64)
    assert r("1") == 1 and r("64") == 64
    for bad in ("0", "65", "-3", "x", "2.0"):
        with pytest.raises(argparse.ArgumentTypeError):
            r(bad)
    lr = float_in(0, 1, lo_open=True)
    assert lr("1e-3") == 1e-3 and not lr.accepts(0.0) and not lr.accepts(math.nan) and lr.describe() == "a number in (0, 1]"
    assert float_in(0).describe() == "a number >= 0" and not float_in(0).accepts(math.inf)


@pytest.mark.parametrize("where, message", [("no/such/dir/pred.json", "does not exist"), (".", "is a directory")])
def test_eval_output_paths_checked_before_loading_anything(tmp_path, monkeypatch, where, message):
    monkeypatch.chdir(tmp_path)
    for flag in ("--out", "--results"):
        # The checkpoint does not exist either: the output path is checked first, before any work.
        code, stderr = run_in_process(["eval", "--checkpoint", "nowhere", "--data", "synthetic:vqa:test?n=4", flag, where])
        assert_refused(code, stderr, flag, message)
    assert list(tmp_path.iterdir()) == []


def test_check_output_file_accepts_a_writable_path(tmp_path):
    check_output_file(str(tmp_path / "new.json"), "--out")
    check_output_file(None, "--out")


def png_header(width: int, height: int) -> bytes:
    """A PNG that only claims its size (Pillow reads the size without decoding a pixel)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [9000, 20000])  # over jarvl's limit; over Pillow's decompression-bomb limit too
def test_predict_refuses_huge_images_as_the_readers_do(tmp_path, side):
    image = tmp_path / "huge.png"
    image.write_bytes(png_header(side, side))
    code, stderr = run_in_process(["predict", "--checkpoint", "nowhere", "--image", str(image), "--question", "what?"])
    assert_refused(code, stderr, "image_too_large", str(image))


def test_predict_refuses_a_corrupt_image(tmp_path):
    image = tmp_path / "cut.png"
    image.write_bytes(png_header(8, 8)[:20])
    code, stderr = run_in_process(["predict", "--checkpoint", "nowhere", "--image", str(image), "--question", "what?"])
    assert_refused(code, stderr, "corrupt_image")


def test_parse_errors_are_one_line():
    code, stderr = run_in_process(["train"])  # --out missing
    assert_refused(code, stderr, "--out")
    code, stderr = run_in_process(["eval", "--beams", "3", "--checkpoint"])
    assert_refused(code, stderr, "--checkpoint")


def test_numbers_in_range_still_parse():
    args = build_parser().parse_args(["eval", "--checkpoint", "c", "--data", "d", "--beams", "3", "--limit", "5"])
    assert args.beams == 3 and args.limit == 5
    args = build_parser().parse_args(["train", "--out", "o", "--max-steps", "0", "--lr", "3e-4", "--max-minutes", "0"])
    assert args.max_steps == 0 and args.lr == 3e-4


@pytest.mark.parametrize("command", [["data", "synth", "--n", "2"], ["demo", "--minutes", "0.01"]])
def test_output_folder_that_is_a_file_is_refused_before_work(tmp_path, command):
    target = tmp_path / "afile"
    target.write_text("mine")
    code, stderr = run_in_process([*command, "--out", str(target)])
    assert_refused(code, stderr, "--out", "not a folder")
    assert target.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_device_checked_at_the_door(tmp_path):
    code, stderr = run_in_process(["eval", "--checkpoint", "c", "--data", "d", "--device", "gpu"])
    assert_refused(code, stderr, "--device", "'gpu'")
    import torch

    if not torch.cuda.is_available():  # an absent device: one line at the start, not a torch traceback
        code, stderr = run_in_process(["train", "--out", str(tmp_path / "run"), "--device", "cuda"])
        assert_refused(code, stderr, "no CUDA device")
        assert list(tmp_path.iterdir()) == []
