"""The cpu-isoflop study's numbers, from its run store and fits, through scaling's APIs only.

    scaling sweep cpu-isoflop                       # the runs (resumes; skips finished ones)
    scaling fit runs/cpu-isoflop --approach all --bootstrap 1000 --out runs/cpu-isoflop/fits/total.json
    scaling fit runs/cpu-isoflop --approach all --bootstrap 1000 --nonembedding --out runs/cpu-isoflop/fits/nonembedding.json
    python runs/cpu-isoflop/analyze.py              # valleys, exponents, back-test below

Back-test (issue 8): every approach is refitted, with 1,000 bootstrap resamples, on the runs of
all budgets but the largest; it predicts the largest budget's compute-optimal N (checked against
its bootstrap interval) and best loss (against the lowest loss measured there).
"""

import sys
import warnings
from pathlib import Path

import numpy as np

from scaling.laws.approaches import fit_runs
from scaling.laws.isoflop import budget_optimum
from scaling.laws.result import FitResult
from scaling.runs import read_runs

SWEEP = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent

runs = read_runs(SWEEP)
print(f"{len(runs)} ok runs in {SWEEP.name}\n\nValleys (final held-out loss, nats/token, by total parameters):")
for budget, group in runs.groupby("budget_flops"):
    group = group.sort_values("params")
    best = group.loc[group["loss"].idxmin()]
    inside = group["params"].min() < best["params"] < group["params"].max()
    print(f"  C = {budget:.0e}: " + ", ".join(f"{p / 1e3:.1f}k {loss:.3f}" for p, loss in zip(group["params"], group["loss"]))
          + f"  -> best {best['params'] / 1e3:.1f}k ({'interior' if inside else 'AT AN EDGE'})")

print("\nAllocation exponent a (N_opt ~ C^a), 95% bootstrap interval:")
for convention in ("total", "nonembedding"):
    for path in sorted((SWEEP / "fits").glob(f"{convention}.*.json")):
        fit = FitResult.from_json(path.read_text())
        if "a" in fit.derived:
            low, high = fit.intervals.get("a", [float("nan")] * 2)
            print(f"  {convention:>12} {path.stem.split('.')[-1]:<11} a = {fit.derived['a']:.3f} [{low:.3f}, {high:.3f}]")

largest = runs["budget_flops"].max()
train, held = runs[runs["budget_flops"] < largest], runs[runs["budget_flops"] == largest]
truth = budget_optimum(*(held[c].to_numpy(float) for c in ("params", "tokens", "loss")))
best_loss = float(held["loss"].min())
print(f"\nBack-test: fit below C = {largest:.0e}, predict it (measured: N_opt {truth['params'] / 1e3:.1f}k"
      f"{' at an edge' if truth['edge'] else ''}, best loss {best_loss:.4f})")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # resamples that leave too few budgets are reported in the fits
    fits, _ = fit_runs(train, "all", bootstrap=1000, seed=0)
for key, fit in fits.items():
    if "a" not in fit.derived:
        continue
    params, tokens = fit.optimal(largest)
    interval = fit.optimal_interval(largest)
    low, high = (float(np.ravel(v)[0]) for v in interval["params"])
    line = (f"  {key:<11} N_opt {float(np.ravel(params)[0]) / 1e3:.1f}k [{low / 1e3:.1f}k, {high / 1e3:.1f}k]"
            f" measured inside: {low <= truth['params'] <= high}")
    if fit.predicts_loss:
        loss = float(np.ravel(fit.predict(params, tokens))[0])
        line += f"; best loss {loss:.4f} ({100 * (loss / best_loss - 1):+.2f}%)"
    print(line)
