"""The cpu-isoflop study's numbers, from its run store and fits, through scaling's APIs only.
Another store as the argument gets the same analysis (runs/cpu-design/reproduce.sh does this).

    scaling sweep cpu-isoflop                       # the runs (resumes; skips finished ones)
    scaling fit runs/cpu-isoflop --approach all --bootstrap 1000 --out runs/cpu-isoflop/fits/total.json
    scaling fit runs/cpu-isoflop --approach all --bootstrap 1000 --nonembedding --out runs/cpu-isoflop/fits/nonembedding.json
    python runs/cpu-isoflop/analyze.py              # valleys, exponents, back-test below

Back-test: every approach is refitted, with 1,000 bootstrap resamples, on the runs of
all budgets but the largest; it predicts the largest budget's compute-optimal N (checked against
its bootstrap interval) and best loss (against the lowest seed-mean loss measured there;
Approach 2's loss from Kaplan's compute frontier L(C) fitted to its per-budget minima).
"""

import sys
import warnings
from pathlib import Path

import numpy as np

from scaling.fit.approaches import fit_runs, prepare
from scaling.fit.isoflop import budget_optimum, profile
from scaling.fit.result import FitResult
from scaling.runs import read_runs

SWEEP = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent

runs = read_runs(SWEEP)
seeds = sorted(int(s) for s in runs["seed"].unique())
print(f"{len(runs)} ok runs in {SWEEP.name}, seeds {seeds}\n\nValleys (final held-out loss, nats/token, "
      "mean over seeds, by total parameters):")
for budget, group in runs.groupby("budget_flops"):
    log_params, mean_loss, _ = profile(group["params"].to_numpy(float), group["loss"].to_numpy(float))
    best = int(np.argmin(mean_loss))
    print(f"  C = {budget:.0e}: " + ", ".join(f"{np.exp(x) / 1e3:.1f}k {y:.3f}" for x, y in zip(log_params, mean_loss))
          + f"  -> best {np.exp(log_params[best]) / 1e3:.1f}k "
          + f"({'interior' if 0 < best < len(mean_loss) - 1 else 'AT AN EDGE'})")

if len(seeds) > 1:
    print("\nSeed scatter: standard deviation of one run's loss, from the spread between seeds of one size:")
    for budget, group in runs.groupby("budget_flops"):
        spread = group.groupby("params")["loss"].std(ddof=1).dropna()
        print(f"  C = {budget:.0e}: {np.sqrt((spread**2).mean()):.3f} nats (pooled over {len(spread)} sizes; "
              f"largest gap {group.groupby('params')['loss'].agg(np.ptp).max():.3f})")

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
best_loss = float(profile(held["params"].to_numpy(float), held["loss"].to_numpy(float))[1].min())
print(f"\nBack-test: fit below C = {largest:.0e}, predict it (measured: N_opt {truth['params'] / 1e3:.1f}k"
      f"{' at an edge' if truth['edge'] else ''}, best loss {best_loss:.4f})")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # resamples that leave too few budgets are reported in the fits
    # The sweep prepared as `scaling fit` prepares it (training curves for Approach 1, seeds
    # averaged), restricted to the runs below the held-out budget.
    fits, _ = fit_runs(prepare(SWEEP).subset(train["run_id"]), "all", bootstrap=1000, seed=0)
for key, fit in fits.items():
    if "a" not in fit.derived:
        continue
    params, tokens = fit.optimal(largest)
    interval = fit.optimal_interval(largest)
    low, high = (float(np.ravel(v)[0]) for v in interval["params"])
    a_low, a_high = fit.intervals.get("a", [float("nan")] * 2)
    line = (f"  {key:<11} a = {fit.derived['a']:.3f} [{a_low:.3f}, {a_high:.3f}]; N_opt {float(np.ravel(params)[0]) / 1e3:.1f}k [{low / 1e3:.1f}k, {high / 1e3:.1f}k]"
            f" measured inside: {low <= truth['params'] <= high}")
    # Approach 2 allocates only; its loss is Kaplan's frontier L(C) (Eq. 1.3) through its minima.
    loss_fit = fits["kaplan_c"] if key == "approach_2" else fit
    if loss_fit.predicts_loss:
        loss = float(np.ravel(loss_fit.predict(params, tokens))[0])
        low, high = (float(np.ravel(v)[0]) for v in loss_fit.predict_interval(params, tokens))
        line += f"; best loss {loss:.4f} [{low:.4f}, {high:.4f}] ({100 * (loss / best_loss - 1):+.2f}%)"
    print(line)
