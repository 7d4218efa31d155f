"""Judge a config's declared findings on its measurements.

A kind turns its results into *values*: ``values[task][arm][metric]``, a number or a
``{"mean", "std", "values", "seeds"}`` summary over seeds. Each finding (``config.Finding``) is
judged per task into ``{"claim", "task", "verdict", "held", "rule", "detail", "paper", "must_show"}``;
``verdict`` is one of:

- ``held`` / ``did not hold``: on the means, or (rule ``beyond the seed spread``) with every
  difference it rests on larger than the larger std of the two arms compared;
- ``not judged``: measured, but the rule cannot decide (within the seed spread, or one seed; same-seed speed
  ratios that disagree; every arm at the same accuracy on every seed, i.e. all at the words prior);
- ``not measured``: an arm or the metric is missing.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.config import Finding

VERDICTS = ("held", "did not hold", "not judged", "not measured")


def stat(v: Any) -> dict | None:
    """A value as ``{"mean", "std", "values", "seeds"}`` (a plain number: std 0, one value)."""
    if v is None:
        return None
    if isinstance(v, dict):
        return v if v.get("mean") is not None else None
    return {"mean": float(v), "std": 0.0, "values": [float(v)], "seeds": []}


PERCENT = ("test", "comp", "accuracy", "fraction_of_peak")  # metrics that are fractions, shown as percentages


def fmt(s: dict, metric: str = "") -> str:
    """'63.7% +- 1.3 (3 seeds)' for an accuracy, '0.1053' for a number."""
    n = len(s.get("values") or [])
    if metric in PERCENT:
        return f"{100 * s['mean']:.1f}%" + (f" +- {100 * s['std']:.1f} ({n} seeds)" if n > 1 else "")
    return f"{s['mean']:.4g}" + (f" +- {s['std']:.2g} ({n} seeds)" if n > 1 else "")


def judge(finding: Finding, values: dict[str, dict[str, dict]]) -> list[dict]:
    """The finding's verdict on every task it applies to."""
    tasks = finding.tasks or list(values)
    return [_one(finding, task, values.get(task, {})) for task in tasks]


def judge_all(findings: list[Finding], values: dict) -> list[dict]:
    return [v for f in findings for v in judge(f, values)]


def _one(f: Finding, task: str, arms: dict[str, dict]) -> dict:
    out = {"claim": f.claim, "task": task, "rule": f.rule, "paper": f.paper, "must_show": f.must_show}
    pairs = f.pairs or ([f.arms[:2]] if f.test in ("ratio", "within_std") else [])
    names = f.arms if f.test in ("order", "diminishing", "threshold") else [x for p in pairs for x in p]
    got = {a: stat((arms.get(a) or {}).get(f.metric)) for a in names}
    missing = [a for a, s in got.items() if s is None]
    if missing:
        return {**out, "verdict": "not measured", "held": None, "detail": f"no {f.metric} for {', '.join(missing)}"}
    verdict, detail = TESTS[f.test](f, got, pairs)
    if (
        verdict in ("held", "did not hold")
        and f.test in ("within_std", "order", "diminishing")
        and at_prior({a: arms[a] for a in got}, f.metric)
    ):
        verdict, detail = "not judged", detail + " -- every arm scored the same on every seed: all answer from the words alone"
    return {**out, "verdict": verdict, "held": {"held": True, "did not hold": False}.get(verdict), "detail": detail}


def at_prior(arms: dict[str, dict], metric: str) -> bool:
    """Every arm compared at one mean with no spread: identical answers, nothing learned from the image; a tie says nothing."""
    stats = [stat(a.get(metric)) for a in arms.values()]
    stats = [s for s in stats if s]
    return len(stats) > 1 and len({round(s["mean"], 9) for s in stats}) == 1 and all(s["std"] == 0 for s in stats)


def _decide(on_means: bool, beyond: bool, rule: str) -> str:
    if rule == "beyond the seed spread" and on_means and not beyond:
        return "not judged"
    return "held" if on_means else "did not hold"


def _bigger(a: dict, b: dict, strict: bool = True) -> tuple[bool, bool]:
    """(a > b on the means, and by more than the larger std); one seed has no spread, so never beyond it."""
    d = a["mean"] - b["mean"]
    spread = min(len(a.get("values") or []), len(b.get("values") or [])) >= 2
    return (d > 0 if strict else d >= 0), spread and abs(d) > max(a["std"], b["std"])


def _diff(d: float, metric: str) -> str:
    return f"{100 * d:+.1f} points" if metric in PERCENT else f"{d:+.4g}"


def _bound(f: Finding) -> str:
    """The finding's bound as text: ``<= 0.67``, ``>= 1.5`` or both."""
    return " and ".join(x for x in (f.at_most is not None and f"<= {f.at_most}", f.at_least is not None and f">= {f.at_least}") if x)


def _within_bound(f: Finding, value: float) -> bool:
    return (f.at_most is None or value <= f.at_most) and (f.at_least is None or value >= f.at_least)


def _ratio(f: Finding, got: dict, pairs: list) -> tuple[str, str]:
    held, parts, judged = True, [], True
    for a, b in pairs:
        sa, sb = got[a], got[b]
        r = sa["mean"] / sb["mean"]
        text = f"{a}/{b} {r:.3f}x" if r != float("inf") else f"{a}: never reached"
        if f.paired and sa.get("seeds") and sb.get("seeds"):
            by_a, by_b = dict(zip(sa["seeds"], sa["values"])), dict(zip(sb["seeds"], sb["values"]))
            ratios = [by_a[k] / by_b[k] for k in sorted(set(by_a) & set(by_b))]
            if ratios:
                r = statistics.fmean(ratios)
                sd = statistics.stdev(ratios) if len(ratios) > 1 else 0.0
                text = f"{a}/{b} per seed " + ", ".join(f"{x:.2f}x" for x in ratios) + f" = {r:.2f}x +- {sd:.2f}"
                if sd / r > f.max_cv:
                    judged, text = False, text + f" (same-seed ratios vary by more than {f.max_cv:.0%})"
        held &= _within_bound(f, r)
        parts.append(text)
    detail = "; ".join(parts) + f" (claim: {_bound(f)})"
    return ("held" if held else "did not hold") if judged else "not judged", detail


def _within_std(f: Finding, got: dict, pairs: list) -> tuple[str, str]:
    held, parts = True, []
    for a, b in pairs:
        sa, sb = got[a], got[b]
        held &= sa["mean"] >= sb["mean"] - sb["std"]
        parts.append(f"{a} {fmt(sa, f.metric)} vs {b} {fmt(sb, f.metric)}: {_diff(sa['mean'] - sb['mean'], f.metric)}")
    return ("held" if held else "did not hold"), "; ".join(parts)


def _order(f: Finding, got: dict, pairs: list) -> tuple[str, str]:
    steps = [_bigger(got[a], got[b]) for a, b in zip(f.arms, f.arms[1:])]
    verdict = _decide(all(s[0] for s in steps), all(s[1] for s in steps), f.rule)
    return verdict, ", ".join(f"{a} {fmt(got[a], f.metric)}" for a in f.arms)


def _diminishing(f: Finding, got: dict, pairs: list) -> tuple[str, str]:
    means = [got[a]["mean"] for a in f.arms]
    gains = [y - x for x, y in zip(means, means[1:])]
    more, beyond = _bigger(got[f.arms[-1]], got[f.arms[0]])
    on_means = len(gains) >= 2 and more and gains[-1] < gains[0]
    detail = ", ".join(f"{a} {fmt(got[a], f.metric)}" for a in f.arms) + "; gains per step " + ", ".join(_diff(g, f.metric) for g in gains)
    return _decide(on_means, beyond, f.rule), detail


def _ratio_falls(f: Finding, got: dict, pairs: list) -> tuple[str, str]:
    ratios = [got[a]["mean"] / got[b]["mean"] for a, b in pairs]
    held = len(ratios) >= 2 and all(y < x for x, y in zip(ratios, ratios[1:]))
    return ("held" if held else "did not hold"), ", ".join(f"{a}/{b} {r:.2f}x" for (a, b), r in zip(pairs, ratios))


def _threshold(f: Finding, got: dict, pairs: list) -> tuple[str, str]:
    held = all(_within_bound(f, got[a]["mean"]) for a in f.arms)
    return ("held" if held else "did not hold"), ", ".join(f"{a} {fmt(got[a], f.metric)}" for a in f.arms) + f" (claim: {_bound(f)})"


TESTS = {
    "threshold": _threshold,
    "ratio": _ratio,
    "within_std": _within_std,
    "order": _order,
    "diminishing": _diminishing,
    "ratio_falls": _ratio_falls,
}
