"""Result files: ``benchmarks/results/CONFIG.DEVICE.json`` and ``.md`` (plots: ``CONFIG.DEVICE_*.png``).

A result file holds ``{"config", "device", "kind", "provenance", "settings", "payload", "findings"}``:
``payload`` is the kind's measurements, ``findings`` the declared findings judged on them. The page
is rendered from the file alone, so ``--from-json`` can write it again without measuring.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def stem(config: str, device: str) -> str:
    """``fusions`` on ``cpu`` -> ``fusions.cpu``."""
    return f"{config}.{device}"


def path(out: Path, config: str, device: str) -> Path:
    return Path(out) / f"{stem(config, device)}.json"


def write(out: Path, result: dict, page: str) -> Path:
    """``STEM.json`` and ``STEM.md`` in ``out``; returns the json's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    p = path(out, result["config"], result["device"])
    p.write_text(json.dumps(result, indent=1, default=str) + "\n")
    p.with_suffix(".md").write_text(page)
    return p


def read(p: Path) -> dict:
    """A result file; a file that is not one is a clear error."""
    data = json.loads(Path(p).read_text())
    missing = {"config", "device", "kind", "provenance", "payload"} - set(data)
    if missing:
        raise ValueError(f"{p}: not a benchmark result file (missing {', '.join(sorted(missing))})")
    return data


def all_results(results: Path = RESULTS) -> list[dict]:
    """Every result file in ``results`` (``*.*.json`` with the result keys), sorted by name."""
    out = []
    for p in sorted(Path(results).glob("*.*.json")):
        try:
            out.append(read(p))
        except (ValueError, json.JSONDecodeError):
            continue
    return out


def replace(rows: list[dict], row: dict, keys: tuple[str, ...]) -> None:
    """Put ``row`` in ``rows``, replacing any row with the same values at ``keys``."""
    rows[:] = [r for r in rows if any(r.get(k) != row.get(k) for k in keys)] + [row]
