"""One provenance record for every result file: what ran, on which code, where and when.

``{"command", "git_commit", "machine": {cpu, cores, platform, python, gpu}, "torch", "threads",
"device", "date", "load_1min", "alone"}``. ``alone``: the machine's 1-minute load average was under
half a core when the measurement started (speed figures are only compared when it was).
A result ported from an older script keeps that script's command, machine and date and says so
(``ported_from``); what it did not record is ``None``.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def git_commit() -> str | None:
    """The checkout's commit, with ``-dirty`` when tracked files differ from it; None outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("-dirty" if dirty else "")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            return next((ln.split(":", 1)[1].strip() for ln in handle if ln.startswith("model name")), platform.processor())
    except OSError:
        return platform.processor() or "unknown"


def record(device: str = "cpu") -> dict:
    """The provenance of a measurement starting now in this process."""
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    env = [f"{k}={os.environ[k]}" for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS") if k in os.environ]
    return {
        "command": " ".join(env + ["python", "-m", "benchmarks", *(shlex.quote(a) for a in sys.argv[1:])]),
        "git_commit": git_commit(),
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "gpu": gpu,
        },
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": device,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_1min": load,
        "alone": None if load is None else load < 0.5,
    }


def describe(p: dict) -> str:
    """Markdown lines: command and commit; machine, torch, threads, date, alone; the other commands whose
    runs the result holds (``combine``'s parts, ``--merge``'s earlier runs; each part's device when
    they differ); a ``note`` (what was done to the runs by hand, e.g. left out); who re-rendered the page."""
    m = p.get("machine") or {}
    alone = {True: "alone on the machine", False: "machine shared", None: "alone: not recorded"}[p.get("alone")]
    ported = f" (ported from `{p['ported_from']}`: {p.get('ported_note', '')})" if p.get("ported_from") else ""
    return (
        f"Command: `{p.get('command', '?')}`{ported}, commit {p.get('git_commit') or 'not recorded'}  \n"
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores" + (f", GPU {m['gpu']}" if m.get("gpu") else "") + ", "
        f"torch {p.get('torch', '?')} ({p.get('threads', '?')} threads), device {p.get('device', '?')}; {p.get('date', '?')}; {alone}"
        + _history(p)
        + (f"  \nNote: {p['note']}" if p.get("note") else "")
        + (f"  \nPage re-rendered by `{p['rendered_by']}`" if p.get("rendered_by") else "")
        + "\n"
    )


def _where(p: dict) -> str:
    """``device cuda, NVIDIA H200, 2026-12-04``: where and when one part ran."""
    gpu = (p.get("machine") or {}).get("gpu")
    return ", ".join(str(x) for x in (f"device {p.get('device', '?')}", gpu, (p.get("date") or "?")[:10]) if x)


def _history(p: dict) -> str:
    """The other commands a result file holds runs of: the parts ``combine`` joined (each with the runs
    it continued with ``--merge``), or the runs this one continued; "" when it is one command's."""
    if p.get("parts"):
        where = {(part.get("device"), (part.get("machine") or {}).get("gpu")) for part in p["parts"]}
        commands = [
            f"`{c}`" + (f" ({_where(part)})" if len(where) > 1 else "")
            for part in p["parts"]
            for c in [*part.get("earlier", []), part.get("command", "?")]
        ]
        return f"  \nCombined by `{p.get('combined_by', '?')}` from the runs of: " + "; ".join(commands)
    if p.get("earlier"):
        return "  \nContinuing (`--merge`) the runs of: " + "; ".join(f"`{c}`" for c in p["earlier"])
    return ""
