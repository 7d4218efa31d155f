"""Run one experiment config: measure, judge its findings, write ``CONFIG.DEVICE.json`` / ``.md``.

The result file is rewritten whenever the kind has something new (after each training run), so a
stopped experiment keeps what it measured. ``--merge`` continues from the file already there (the
kind's settings must match); ``--from-json`` writes the page again from a result file without
measuring (the provenance stays the measurement's, ``rendered_by`` is added). ``--arms`` (``--tasks``) runs a subset
of the arms (tasks) and ``--set`` changes a setting (``seeds=1``), so an experiment can be split over processes
or machines; ``combine`` joins the parts' result files into one (their measuring settings must match).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import findings, provenance, results
from benchmarks.config import Experiment, load
from benchmarks.kinds import get_kind
from jarvl.config import ConfigError, apply_overrides, to_dict

QUICK_OUT = Path("runs/benchmarks-quick")


@dataclass
class Context:
    """What a kind's ``run`` gets besides its settings (see ``benchmarks/kinds/__init__.py``)."""

    exp: Experiment
    settings: Any
    device: str
    out: Path
    prov: dict
    quick: bool = False
    old: dict | None = None
    log: Any = print
    written: list[Path] = field(default_factory=list)

    def save(self, payload: dict) -> Path:
        result = {"config": self.exp.name, "device": self.device, "kind": self.exp.kind, "quick": self.quick,
                  "provenance": self.prov, "settings": to_dict(self.settings), "payload": payload}  # fmt: skip
        return write(self.exp, result, self.out)


def page(exp: Experiment, result: dict, out: Path) -> str:
    """The markdown page of a result: title, provenance, description, findings, then the kind's body."""
    stem = results.stem(result["config"], result["device"])
    body = result["payload"]["page"] if result["payload"].get("ported") else get_kind(exp.kind).render(exp, result["payload"], out, stem)
    lines = [f"# {exp.title}\n", provenance.describe(result["provenance"])]
    if result.get("quick"):
        lines.append("**Quick run (`--quick`): a few steps to keep the experiment alive; the numbers mean nothing.**\n")
    lines += [
        exp.description.strip() + "\n",
        "## Findings\n",
        "| finding | task | rule | ours | verdict | paper |",
        "|---|---|---|---|---|---|",
    ]
    for f in result["findings"]:
        lines.append(f"| {f['claim']} | {f['task']} | {f['rule']} | {f['detail']} | **{f['verdict']}** | {f.get('paper') or '-'} |")
    return "\n".join(lines) + "\n\n" + body + "\n"


def write(exp: Experiment, result: dict, out: Path) -> Path:
    """Judge the findings and write the json and the page."""
    payload = result["payload"]
    Path(out).mkdir(parents=True, exist_ok=True)
    # A page ported from an older script keeps the verdicts it was given; everything else is judged here.
    result["findings"] = (
        payload["findings"] if payload.get("ported") else findings.judge_all(exp.findings, get_kind(exp.kind).values(payload))
    )
    return results.write(out, result, page(exp, result, out))


def select(exp: Experiment, settings: Any, arms: list[str] | None, overrides: list[str] | None, tasks: list[str] | None = None) -> Any:
    """Keep only the ``arms`` and ``tasks`` named (in the config's order) and apply ``KEY=VALUE`` setting overrides."""
    if tasks:
        unknown = [t for t in tasks if t not in exp.tasks]
        if unknown:
            raise ConfigError(f"--tasks: {', '.join(unknown)} not in {exp.name}'s tasks ({', '.join(exp.tasks)})")
        exp.tasks = [t for t in exp.tasks if t in tasks]
    if arms:
        labels = [a.label for a in exp.arms]
        unknown = [a for a in arms if a not in labels]
        if unknown:
            raise ConfigError(f"--arms: {', '.join(unknown)} not in {exp.name}'s arms ({', '.join(labels)})")
        exp.arms = [a for a in exp.arms if a.label in arms]
    return apply_overrides(settings, overrides or [], prefix="settings.") if overrides else settings


def differing(kind, a: dict, b: dict) -> list[str]:
    """The measuring settings (the kind's ``MERGE_KEYS``) on which two settings records differ."""
    return [k for k in kind.MERGE_KEYS if a.get(k) != b.get(k)]


def combine(config: str, parts: list[Path], *, device: str = "cpu", out: Path | None = None) -> Path:
    """One result file from several (``run --arms`` in parallel processes or on other machines)."""
    exp, _ = load(config)
    kind = get_kind(exp.kind)
    if not getattr(kind, "MERGE_KEYS", None):
        raise SystemExit(f"combine: the {exp.kind} kind cannot merge")
    read = [results.read(p) for p in parts]
    first, payload = read[0], read[0]["payload"]
    for p, other in zip(parts[1:], read[1:]):
        differ = differing(kind, other["settings"], first["settings"])
        if other["config"] != first["config"] or differ:
            raise SystemExit(f"combine: {p} was made with other settings than {parts[0]} ({', '.join(differ) or 'another config'})")
        payload = kind.merge(payload, other["payload"])
    prov = {
        **first["provenance"],
        "parts": [r["provenance"] for r in read],
        "combined_by": provenance.record(device)["command"],
    }
    result = {**first, "provenance": prov, "payload": payload}
    p = write(exp, result, Path(out or results.RESULTS))
    print(f"combined {len(parts)} result files into {p} and {p.with_suffix('.md')}")
    return p


def main(
    config: str,
    *,
    quick: bool = False,
    merge: bool = False,
    from_json: str | None = None,
    device: str = "cpu",
    out: Path | None = None,
    arms: list[str] | None = None,
    overrides: list[str] | None = None,
    tasks: list[str] | None = None,
) -> Path:
    exp, settings = load(config, quick=quick)
    settings = select(exp, settings, arms, overrides, tasks)
    out = Path(out or (QUICK_OUT if quick else results.RESULTS))
    if from_json is not None:
        source = Path(from_json) if from_json else results.path(out, exp.name, device)
        result = results.read(source)
        result["provenance"]["rendered_by"] = provenance.record(device)["command"]
        p = write(exp, result, out)
        print(f"re-wrote {p.with_suffix('.md')} from {source}")
        return p
    kind = get_kind(exp.kind)
    old, prov = None, provenance.record(device)
    if merge:
        if not getattr(kind, "MERGE_KEYS", None):
            raise SystemExit(f"--merge: the {exp.kind} kind cannot merge; rerun the whole experiment")
        src = results.path(out, exp.name, device)
        if src.is_file():
            saved = results.read(src)
            differ = differing(kind, saved["settings"], to_dict(settings))
            if differ or saved["payload"].get("ported"):
                raise SystemExit(f"--merge: {src} was made with other settings ({', '.join(differ) or 'ported'}); rerun everything instead")
            old = saved["payload"]
            before = saved["provenance"]
            prov["earlier"] = [*before.get("earlier", []), before.get("command", "?")]  # the runs this one continues
    ctx = Context(exp, settings, device, out, prov, quick=quick, old=old, log=lambda m: print(m, flush=True))
    payload = kind.run(exp, settings, ctx)
    p = ctx.save(payload)
    print(f"wrote {p} and {p.with_suffix('.md')}")
    return p
