"""The result writer of the scripts that are not configs (gpu_fusions.py, probes.py). The config suite uses ``provenance.py`` and ``results.py`` instead."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
from pathlib import Path


def machine() -> dict:
    """CPU model, core count, torch version and threads: enough to know what a figure was measured on."""
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def command() -> str:
    """The command line that is running, as it would be typed."""
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])


def write_results(out_dir: Path, name: str, payload: dict, markdown: str) -> None:
    """``name.json`` (payload + command, machine, date) and ``name.md`` (header + markdown)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"command": command(), "machine": machine(), "date": datetime.date.today().isoformat()}
    (out_dir / f"{name}.json").write_text(json.dumps({**meta, **payload}, indent=1))
    (out_dir / f"{name}.md").write_text(header(meta) + markdown)


def header(meta: dict) -> str:
    """The md page's first lines: command (and the re-rendering command, if any), machine, date."""
    m = meta.get("machine") or {}
    again = f" (page re-rendered by `{meta['rendered_by']}`)" if meta.get("rendered_by") else ""
    return (
        f"Command: `{meta.get('command', '?')}`{again}  \n"
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, torch {m.get('torch')} ({m.get('threads')} threads)"
        + (f", GPU {m['cuda']}" if m.get("cuda") else "")
        + f"  \nDate: {meta.get('date', '?')}\n\n"
    )


def restore_provenance(out_dir: Path, name: str, saved: dict) -> None:
    """After ``--from-json`` re-wrote ``name.json``/``.md`` from ``saved`` results: the command, machine
    and date are put back to the measurement's, and the re-rendering command is kept as ``rendered_by``."""
    path = out_dir / f"{name}.json"
    new = json.loads(path.read_text())
    meta = {
        "command": saved.get("command", "?"),
        "machine": saved.get("machine"),
        "date": saved.get("date", "?"),
        "rendered_by": new["command"],
    }
    path.write_text(json.dumps({**new, **meta}, indent=1))
    page = out_dir / f"{name}.md"
    body = page.read_text().split("\n\n", 1)[1]  # everything after the header block
    page.write_text(header(meta) + body)
