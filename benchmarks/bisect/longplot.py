"""Draw a `jarvl train` run's evaluations per family (long_curve.cpu.png) and dump them (long_curve.cpu.json).

    python benchmarks/bisect/longplot.py runs/long60 benchmarks/results/long_curve.cpu

The text-only line per family is the demo test questions' prior from oracle_demo.md (39.0% overall).
"""
import json, sys
import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
run, out = sys.argv[1], sys.argv[2]
evals = [json.loads(l) for l in open(run + "/metrics.jsonl") if '"kind": "eval"' in l]
prior = {"attribute": 39.7, "compare": 53.4, "count": 16.8, "exists": 49.7, "spatial": 36.8}
fig, ax = plt.subplots(figsize=(7, 4.4), dpi=120)
xs = [e["samples"] / 1000 for e in evals]
ax.plot(xs, [100 * e["accuracy"] for e in evals], marker="o", color="black", lw=2, label="all (2,000 test questions)")
for f, c in zip(sorted(prior), ("C0", "C1", "C2", "C3", "C4")):
    ax.plot(xs, [100 * e["per_family"][f] for e in evals], marker=".", color=c, label=f)
    ax.axhline(prior[f] + 15, color=c, ls=":", lw=0.8)
ax.axhline(39.0, color="grey", ls="--", lw=1, label="text-only, all (39.0)")
ax.set_xlabel("training samples (thousands)"); ax.set_ylabel("test accuracy (%)")
ax.set_title("demo recipe, 60 min on 2 CPU cores (dotted: each family's text-only + 15)")
ax.grid(alpha=0.3); ax.legend(fontsize=7, loc="lower right"); fig.tight_layout(); fig.savefig(out + ".png")
json.dump({"run_config": json.load(open(run + "/config.json")), "evals": evals, "summary": json.load(open(run + "/summary.json"))}, open(out + ".json", "w"), indent=1)
