"""``benchmarks/results/REPORT.md``: every config's findings from whatever result files exist.

For each config in ``benchmarks/configs``: its result files (one per device), the findings they
judged (held / did not hold / not judged), and every declared finding no result file has measured.
Result files are read, never re-measured; a file that is not a result file is skipped. The pages in
``notes/`` (no config writes them) are listed with their links.

    python -m benchmarks report [--results benchmarks/results]
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import results as R
from benchmarks.config import all_configs, load
from benchmarks.findings import VERDICTS


def build(results: Path = R.RESULTS) -> str:
    found = R.all_results(results)
    configs = [load(p)[0] for p in all_configs()]
    items: list[tuple[str, dict, str]] = []  # (verdict, finding, source)
    sections = []
    for exp in configs:
        mine = [r for r in found if r["config"] == exp.name]
        for r in mine:
            stem = R.stem(r["config"], r["device"])
            items += [(f["verdict"], f, stem) for f in r["findings"]]
        measured = {f["claim"] for r in mine for f in r["findings"] if f["verdict"] != "not measured"}
        items += [("not measured", {"claim": f.claim, "task": ", ".join(f.tasks or exp.tasks), "detail": "no result file yet", "paper": f.paper}, exp.name)
                  for f in exp.findings if f.claim not in measured and not mine]  # fmt: skip
        lines = [f"### {exp.title}\n", f"Config: [`configs/{exp.name}.yaml`](../configs/{exp.name}.yaml), kind `{exp.kind}`."]
        for r in mine:
            stem, p = R.stem(r["config"], r["device"]), r["provenance"]
            ported = f", ported from `{p['ported_from']}`" if p.get("ported_from") else ""
            lines.append(f"- [`{stem}.md`]({stem}.md) ({r['device']}, {str(p.get('date', '?'))[:10]}{ported}; `{p.get('command', '?')}`)")
        if not mine:
            lines.append("- no result file yet: `python -m benchmarks run benchmarks/configs/" + exp.name + ".yaml`")
        sections.append("\n".join(lines) + "\n")
    md = [
        "# Reproducing the paper's comparisons at small scale\n",
        "Rendered by `python -m benchmarks report` from the result files in this folder (`CONFIG.DEVICE.json`, written by "
        "`python -m benchmarks run benchmarks/configs/CONFIG.yaml`). Every verdict is computed by the rule its config declares "
        "(`benchmarks/findings.py`); the paper's figures are `benchmarks/paper/*.yaml` (PAPER.md, Tables 2-4). Ours are a tiny "
        "model on synthetic data, so compare the shape (ratios, orderings), not the values. Results marked *ported* were measured "
        "by the scripts this suite replaced, on the recipe of their day, and are kept until the re-run (issue 16).\n",
        "## Findings\n",
    ]
    for verdict in VERDICTS:
        these = [(f, src) for v, f, src in items if v == verdict]
        md.append(f"**{verdict.capitalize()}** ({len(these)}):\n")
        md += [f"- {f['claim']} ({f['task']}): {f['detail']}" + (f"; paper: {f['paper']}" if f.get("paper") else "") + f" [`{src}`]"
               for f, src in these]  # fmt: skip
        md.append("")
    md += ["## Experiments\n", *sections, "## Other pages here\n"]
    notes = sorted(p.stem for p in (Path(results) / "notes").glob("*.md"))
    if notes:
        md.append(
            "Notes (pages no config writes: the learn-to-see work of issue 11, its bisection harness (at commit c095d81), the long "
            "CPU curves, `jarvl inspect`'s attention maps): " + ", ".join(f"[`{s}.md`](notes/{s}.md)" for s in notes) + ".\n"
        )
    return "\n".join(md)


def main(results: Path | None = None) -> Path:
    results = Path(results or R.RESULTS)
    out = results / "REPORT.md"
    out.write_text(build(results))
    print(f"wrote {out}")
    return out
