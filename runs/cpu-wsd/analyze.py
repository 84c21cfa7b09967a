"""The cpu-wsd study's numbers: WSD cooldown branches against cosine runs of the same lengths.

    python runs/cpu-wsd/analyze.py [--bootstrap 1000] [--json OUT.json]

Prints (and with --json writes) four checks:
1. each branch's final loss against the cosine runs (2 seeds) of its size and length: the gap in
   seed standard deviations;
2. N_opt at the study's largest budget (1.5e12 FLOPs) and at 1e13 from the branches and from the
   cosine grid, Approaches 2 and 3 with bootstrap intervals (families resampled for the branches);
3. the FLOPs each study trained (the branched one against the cosine grid, one seed and both);
4. loss-curve laws fitted, per size, on its stable (constant-LR) run and its WSD branches, then
   predicting that size's held-out cosine runs: final-loss error and mean relative error of the
   curve.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.fit.approaches import fit_approach
from scaling.fit.curves import fit_run_curves, predict_curve
from scaling.rundir.meta import read_sweep_meta
from scaling.rundir.summary import read_summary
from scaling.runs import read_runs

HERE = Path(__file__).parent
BRANCHES, COSINE = HERE / "cpu-wsd", HERE / "cpu-wsd-cosine"
TARGETS = (1.5e12, 1e13)
LEVEL = 0.9
CURVE_LAWS = ("multi_power_curve", "momentum_curve")


def branch_vs_cosine(branches: pd.DataFrame, cosine: pd.DataFrame) -> pd.DataFrame:
    """Each branch against the cosine runs of its shape and length."""
    grouped = cosine.groupby(["d_model", "tokens"])["loss"]
    table = branches[["d_model", "params", "tokens", "loss"]].rename(columns={"loss": "branch"})
    table = table.merge(grouped.mean().rename("cosine_mean"), on=["d_model", "tokens"])
    table = table.merge(grouped.std(ddof=1).rename("cosine_sd"), on=["d_model", "tokens"])
    table["gap"] = table["branch"] - table["cosine_mean"]
    table["gap_sd"] = table["gap"] / table["cosine_sd"]
    table["within_2sd"] = table["gap"].abs() <= 2 * table["cosine_sd"]
    return table.sort_values(["d_model", "tokens"]).reset_index(drop=True)


def optima(source: Path, bootstrap: int) -> dict[str, dict[str, list[float]]]:
    """N_opt at TARGETS with its LEVEL interval, per approach."""
    out = {}
    for approach in ("2", "3"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = fit_approach(approach, source, bootstrap=bootstrap, level=LEVEL)
        result = next(iter(results.values()))
        n_opt, _ = result.optimal(np.array(TARGETS))
        interval = result.optimal_interval(np.array(TARGETS), LEVEL) if result.samples else None
        out[f"approach {approach}"] = {
            "n_opt": [float(v) for v in np.atleast_1d(n_opt)],
            "low": [float(v) for v in interval["params"][0]] if interval else None,
            "high": [float(v) for v in interval["params"][1]] if interval else None,
            "resampling": result.options.get("bootstrap_unit") or result.options.get("resampling", ""),
            "uncertainty": result.uncertainty,
        }
    return out


def flops_spent() -> dict[str, float]:
    """FLOPs each study trained, from the sweeps' planned runs (6ND)."""
    branched = read_sweep_meta(BRANCHES)["runs"]
    cosine = read_sweep_meta(COSINE)["runs"]
    stable = sum(r["trained_flops"] for r in branched if r["role"] == "stable")
    cooldown = sum(r["trained_flops"] for r in branched if r["role"] == "branch")
    one_seed = sum(r["flops"] for r in cosine if r["seed"] == 0)
    both = sum(r["flops"] for r in cosine)
    return {"stable": stable, "cooldowns": cooldown, "branched": stable + cooldown, "cosine_one_seed": one_seed,
            "cosine_two_seeds": both, "ratio_one_seed": (stable + cooldown) / one_seed,
            "ratio_two_seeds": (stable + cooldown) / both}


def curve_checks(cosine: pd.DataFrame) -> list[dict[str, object]]:
    """Per size and law: fit on the stable run and its branches, predict each cosine run."""
    rows = []
    store = read_summary(BRANCHES)  # every run, the stable ones included (the runs table leaves them out)
    for d_model, family in store[store["status"] == "ok"].groupby("d_model"):
        fitted_on = [BRANCHES / rid for rid in family["run_id"]]
        held_out = cosine[cosine["d_model"] == d_model]["run_id"]
        for law in CURVE_LAWS:
            start = time.perf_counter()
            fit = fit_run_curves(fitted_on, law=law)
            seconds = time.perf_counter() - start
            for run_id in held_out:
                prediction = predict_curve(fit, run_dir=COSINE / run_id)
                rows.append({"d_model": int(d_model), "law": law, "run_id": run_id, "fit_s": seconds,
                             "final_error": prediction.final_error, "curve_mre": prediction.mean_relative_error})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    branches, cosine = read_runs(BRANCHES), read_runs(COSINE)
    report: dict[str, object] = {}

    table = branch_vs_cosine(branches, cosine)
    report["branches"] = table.to_dict("records")
    print("1. branch endpoints against cosine runs of the same length (2 seeds)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"   within 2 seed SDs: {int(table['within_2sd'].sum())} of {len(table)}; mean gap "
          f"{table['gap'].mean():+.4f} nats ({100 * (table['gap'] / table['cosine_mean']).mean():+.2f}%)")

    print(f"\n2. N_opt at {', '.join(f'{c:.3g}' for c in TARGETS)} FLOPs, {LEVEL:.0%} intervals")
    report["optima"] = {}
    for name, source in (("branches", BRANCHES), ("cosine", COSINE)):
        report["optima"][name] = found = optima(source, args.bootstrap)
        for approach, o in found.items():
            spans = [f"{n:,.0f}" + (f" [{lo:,.0f}, {hi:,.0f}]" if o["low"] else "")
                     for n, lo, hi in zip(o["n_opt"], o["low"] or [0] * 2, o["high"] or [0] * 2)]
            print(f"   {name:8s} {approach}: {'; '.join(spans)}  ({o['uncertainty']}; {o['resampling']})")
    for approach in ("approach 2", "approach 3"):
        b, c = report["optima"]["branches"][approach], report["optima"]["cosine"][approach]
        if c["low"]:
            inside = [lo <= n <= hi for n, lo, hi in zip(b["n_opt"], c["low"], c["high"])]
            print(f"   {approach}: branches' N_opt inside the cosine grid's interval: {inside}")

    report["flops"] = spent = flops_spent()
    print(f"\n3. FLOPs: stable {spent['stable']:.3g} + cooldowns {spent['cooldowns']:.3g} = {spent['branched']:.3g}; "
          f"cosine grid {spent['cosine_one_seed']:.3g} (one seed), {spent['cosine_two_seeds']:.3g} (two): "
          f"ratio {spent['ratio_one_seed']:.3f} / {spent['ratio_two_seeds']:.3f}")

    print("\n4. curve laws fitted on each size's stable run and branches, predicting its cosine runs")
    checks = pd.DataFrame(curve_checks(cosine))
    report["curves"] = checks.to_dict("records")
    print(checks.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for law, rows in checks.groupby("law"):
        print(f"   {law}: |final error| max {rows['final_error'].abs().max():.2%}, mean "
              f"{rows['final_error'].abs().mean():.2%}; curve MRE max {rows['curve_mre'].max():.2%}, mean "
              f"{rows['curve_mre'].mean():.2%}; fit {rows['fit_s'].mean():.1f} s per size")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
