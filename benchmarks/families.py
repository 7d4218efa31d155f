"""Per question family: final accuracy against the text-only prior, and when each family first leaves it.

Issue #11 judges a recipe family by family ("every family >= 15 points above text-only"), since an
overall figure hides a family stuck at the prior. The prior per family is the text-only baseline on
the test split (the majority training answer of each exact prompt, over the samples the run saw);
the curve is the validation split's, a different draw of the same distribution.
"""

from __future__ import annotations

import statistics

MARGIN = 0.15  # "first passes text-only + 15 points"


def mean_family_curve(runs: list[dict]) -> list[dict]:
    """Per curve point: samples and each family's validation accuracy averaged over seeds."""
    n = min((len(r.get("curve") or []) for r in runs), default=0)
    out = []
    for i in range(n):
        fams = set.intersection(*(set(r["curve"][i].get("per_family") or {}) for r in runs))
        out.append({"samples": runs[0]["curve"][i]["samples"],
                    "per_family": {f: statistics.fmean(r["curve"][i]["per_family"][f] for r in runs) for f in sorted(fams)}})  # fmt: skip
    return out


def first_passes(curve: list[dict], prior: dict[str, float], margin: float = MARGIN) -> dict[str, int | None]:
    """Per family of ``prior``: the samples of the first curve point at or above prior + margin (None: never)."""
    return {
        f: next((p["samples"] for p in curve if p["per_family"].get(f, -1.0) >= base + margin - 1e-12), None)
        for f, base in sorted(prior.items())
    }


def mean_test_families(runs: list[dict]) -> dict[str, float]:
    """Each family's test accuracy averaged over seeds (families every run scored)."""
    fams = set.intersection(*(set(r.get("test", {}).get("per_family") or {}) for r in runs)) if runs else set()
    return {f: statistics.fmean(r["test"]["per_family"][f] for r in runs) for f in sorted(fams)}


def table(runs_by_arm: dict[str, list[dict]], prior: dict[str, float], labels: list[str]) -> str:
    """Markdown: per arm and family, the test accuracy (points over text-only) and the samples at the first pass."""
    fams = sorted(prior)
    head = "| arm | " + " | ".join(f"{f} (text-only {100 * prior[f]:.1f})" for f in fams) + " |"
    lines = [head, "|---|" + "---:|" * len(fams)]
    for a in labels:
        runs = runs_by_arm.get(a)
        if not runs:
            continue
        test, passes = mean_test_families(runs), first_passes(mean_family_curve(runs), prior)
        cells = []
        for f in fams:
            acc = "-" if f not in test else f"{100 * test[f]:.1f} ({100 * (test[f] - prior[f]):+.1f})"
            cells.append(f"{acc}; {'never' if passes[f] is None else f'{passes[f] / 1000:.1f}k'}")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
