"""The cpu-wsd study's numbers: WSD cooldown branches against cosine runs of the same lengths.

    python runs/cpu-wsd/analyze.py [--bootstrap 1000] [--json OUT.json]

Three branched arms (20% cooldowns to 10% of the peak, as the cosine runs decay; 20% cooldowns
to 0, as Hagele et al. 2024 cool down; 30% cooldowns to 0) against one cosine grid. Prints (and with --json writes) four checks:
1. each branch's final loss against the cosine runs (2 seeds) of its size and length: the gap in
   seed standard deviations, each point's own (2 seeds) and pooled over the 16 points;
2. N_opt at the study's target, its largest budget (1.5e12 FLOPs), and at 1e13 (extrapolated),
   from each arm and from the cosine grid, Approaches 2 and 3 with bootstrap intervals (families
   resampled for the branches);
3. the FLOPs each arm trained against the cosine grid, one seed and both;
4. loss-curve laws fitted, per size, on its stable (constant-LR) runs and the WSD branches of all
   arms, then predicting that size's held-out cosine runs: final-loss error and mean relative
   error of the curve, beside the logged rows' own scatter, on train rows and on val rows.
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
ARMS = {"to 10%": HERE / "cpu-wsd", "to 0": HERE / "cpu-wsd-zero", "30% to 0": HERE / "cpu-wsd-long"}
COSINE = HERE / "cpu-wsd-cosine"
TARGETS = (1.5e12, 1e13)
LEVEL = 0.9
CURVE_LAWS = ("multi_power_curve", "momentum_curve")


def branch_vs_cosine(branches: pd.DataFrame, cosine: pd.DataFrame) -> pd.DataFrame:
    """Each branch against the cosine runs of its shape and length."""
    grouped = cosine.groupby(["d_model", "tokens"])["loss"]
    table = branches[["d_model", "params", "tokens", "loss"]].rename(columns={"loss": "branch"})
    table = table.merge(grouped.mean().rename("cosine_mean"), on=["d_model", "tokens"])
    table = table.merge(grouped.std(ddof=1).rename("cosine_sd"), on=["d_model", "tokens"])
    pooled = float(np.sqrt((grouped.var(ddof=1)).mean()))  # seed SD from all points (16 degrees of freedom)
    table["gap"] = table["branch"] - table["cosine_mean"]
    table["gap_sd"] = table["gap"] / table["cosine_sd"]
    table["within_2sd"] = table["gap"].abs() <= 2 * table["cosine_sd"]
    table["gap_pooled_sd"] = table["gap"] / pooled
    table["within_2_pooled_sd"] = table["gap"].abs() <= 2 * pooled
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


def flops_spent(arm: Path) -> dict[str, float]:
    """FLOPs an arm trained against the cosine grid, from the sweeps' planned runs (6ND)."""
    branched = read_sweep_meta(arm)["runs"]
    cosine = read_sweep_meta(COSINE)["runs"]
    stable = sum(r["trained_flops"] for r in branched if r["role"] == "stable")
    cooldown = sum(r["trained_flops"] for r in branched if r["role"] == "branch")
    one_seed = sum(r["flops"] for r in cosine if r["seed"] == 0)
    both = sum(r["flops"] for r in cosine)
    return {"stable": stable, "cooldowns": cooldown, "branched": stable + cooldown, "cosine_one_seed": one_seed,
            "cosine_two_seeds": both, "ratio_one_seed": (stable + cooldown) / one_seed,
            "ratio_two_seeds": (stable + cooldown) / both}


def curve_checks(cosine: pd.DataFrame) -> list[dict[str, object]]:
    """Per size, law and split: fit on the stable runs and branches of every arm, predict each
    cosine run of that size."""
    rows = []
    stores = {name: read_summary(arm) for name, arm in ARMS.items()}  # stable runs included
    for d_model in sorted(cosine["d_model"].unique()):
        fitted_on = [ARMS[name] / rid for name, store in stores.items()
                     for rid in store[(store["d_model"] == d_model) & (store["status"] == "ok")]["run_id"]]
        held_out = cosine[cosine["d_model"] == d_model]["run_id"]
        for law in CURVE_LAWS:
            for split in ("train", "val"):
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit = fit_run_curves(fitted_on, law=law, split=split)
                seconds = time.perf_counter() - start
                for run_id in held_out:
                    p = predict_curve(fit, run_dir=COSINE / run_id)
                    rows.append({"d_model": int(d_model), "law": law, "split": split, "run_id": run_id,
                                 "fit_s": seconds, "converged": fit.converged, "final_error": p.final_error,
                                 "curve_mre": p.mean_relative_error, "row_scatter": p.row_scatter})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cosine = read_runs(COSINE)
    report: dict[str, dict[str, object]] = {}

    report["branches"], report["optima"], report["flops"] = {}, {}, {}
    print("1. branch endpoints against cosine runs of the same length (2 seeds)")
    for name, arm in ARMS.items():
        table = branch_vs_cosine(read_runs(arm), cosine)
        report["branches"][name] = table.to_dict("records")
        print(f"   cooldown {name}:")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(f"   within 2 seed SDs: {int(table['within_2sd'].sum())} of {len(table)} (each point's 2 seeds), "
              f"{int(table['within_2_pooled_sd'].sum())} of {len(table)} (pooled); mean gap "
              f"{table['gap'].mean():+.4f} nats ({100 * (table['gap'] / table['cosine_mean']).mean():+.2f}%)")

    print(f"\n2. N_opt at {', '.join(f'{c:.3g}' for c in TARGETS)} FLOPs, {LEVEL:.0%} intervals")
    for name, source in (*ARMS.items(), ("cosine", COSINE)):
        report["optima"][name] = found = optima(source, args.bootstrap)
        for approach, o in found.items():
            spans = [f"{n:,.0f}" + (f" [{lo:,.0f}, {hi:,.0f}]" if o["low"] else "")
                     for n, lo, hi in zip(o["n_opt"], o["low"] or [0] * 2, o["high"] or [0] * 2)]
            print(f"   {name:8s} {approach}: {'; '.join(spans)}  ({o['uncertainty']}; {o['resampling']})")
    for name in ARMS:
        for approach in ("approach 2", "approach 3"):
            b, c = report["optima"][name][approach], report["optima"]["cosine"][approach]
            if c["low"]:
                inside = [lo <= n <= hi for n, lo, hi in zip(b["n_opt"], c["low"], c["high"])]
                print(f"   cooldown {name}, {approach}: N_opt inside the cosine grid's interval at "
                      f"{', '.join(f'{t:.3g}' for t in TARGETS)}: {inside}")

    print("\n3. FLOPs")
    for name, arm in ARMS.items():
        report["flops"][name] = spent = flops_spent(arm)
        print(f"   cooldown {name}: stable {spent['stable']:.3g} + cooldowns {spent['cooldowns']:.3g} = "
              f"{spent['branched']:.3g}; cosine grid {spent['cosine_one_seed']:.3g} (one seed), "
              f"{spent['cosine_two_seeds']:.3g} (two): ratio {spent['ratio_one_seed']:.3f} / {spent['ratio_two_seeds']:.3f}")

    print("\n4. curve laws fitted on each size's stable runs and branches, predicting its cosine runs")
    checks = pd.DataFrame(curve_checks(cosine))
    report["curves"] = {"rows": checks.to_dict("records")}
    for (law, split), rows in checks.groupby(["law", "split"]):
        print(f"   {law}, {split} rows: |final error| max {rows['final_error'].abs().max():.2%}, mean "
              f"{rows['final_error'].abs().mean():.2%}; curve MRE max {rows['curve_mre'].max():.2%}, mean "
              f"{rows['curve_mre'].mean():.2%}"
              + (f" (rows' own scatter {rows['row_scatter'].mean():.2%})" if split == "train" else "") + "; "
              f"fit {rows['fit_s'].mean():.1f} s per size, {int(rows.groupby('d_model')['converged'].first().sum())} "
              "of 4 converged")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
