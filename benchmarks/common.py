"""Shared by the benchmark scripts: the machine description and how results are written."""

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
        "cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "python": platform.python_version(), "platform": platform.platform(),
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
    m = meta["machine"]
    header = (
        f"Command: `{meta['command']}`  \n"
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['threads']} threads)"
        + (f", GPU {m['cuda']}" if m["cuda"] else "") + f"  \nDate: {meta['date']}\n\n"
    )
    (out_dir / f"{name}.md").write_text(header + markdown)
