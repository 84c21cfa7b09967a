"""Benchmark: the study designer against the standard IsoFLOP grid, by simulation.

Ground truths: `--laws` Chinchilla laws spread around the published fits (Hoffmann et al. 2022,
Eq. 10, and Besiroglu et al. 2024's refit, in turn), each with alpha and beta moved by N(0, 0.04)
and N_opt moved by a factor x/2 (one standard deviation) at the largest budget. Run noise: the
seed scatter measured in runs/cpu-isoflop (`scaling.design.belief.seed_noise`: pooled by budget,
a power law in the budget), laid over the study's range so that its smallest budget is as noisy
as cpu-isoflop's smallest (3e11 FLOPs) and the noise falls with the budget as measured there.

- The grid: 5 log-spaced budgets over 2 decades (1e18-1e20 FLOPs), 8 sizes per budget from 0.1x
  to 10x the optimum the prior law (the `chinchilla` preset) predicts, one seed.
- The designer: the loop `scaling sweep` runs for a [design] spec (`scaling.design.study.next_round`),
  starting from the same prior, with runs between the grid's smallest and largest budget, at
  `--fractions` of the grid's FLOPs; each round's runs get simulated losses.

Both are fitted by Approach 2 with a 400-resample bootstrap (`scaling fit --approach 2`), and
the 90% interval on N_opt at 1e22 FLOPs (100x the largest budget) is read. Printed: the median
relative width (high - low) / estimate, the coverage of the true N_opt, and the study FLOPs at
which the designer's median width matches the grid's (interpolated in log FLOPs).

Usage: python benchmarks/bench_design.py [--laws 20] [--replicates 1] [--fractions 0.25,0.5,1]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.design.belief import seed_noise
from scaling.design.goal import Goal
from scaling.design.study import achieved, next_round
from scaling.laws.presets import get_preset
from scaling.laws.registry import get_law
from scaling.runs import read_runs

BUDGETS = np.geomspace(1e18, 1e20, 5)
TARGET = 1e22
SIZES = np.geomspace(0.1, 10.0, 8)
PRIOR = get_preset("chinchilla")
CPU_ISOFLOP = Path(__file__).resolve().parents[1] / "runs" / "cpu-isoflop"
CPU_SMALLEST = 3e11
"""runs/cpu-isoflop's smallest budget: the grid's smallest is given its noise."""


def truths(count: int, seed: int = 0) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    bases = [PRIOR.coefficients, get_preset("epoch2024").coefficients]
    out = []
    for i in range(count):
        c = dict(bases[i % 2])
        c["alpha"] = float(np.clip(c["alpha"] + 0.04 * rng.standard_normal(), 0.15, 0.6))
        c["beta"] = float(np.clip(c["beta"] + 0.04 * rng.standard_normal(), 0.15, 0.6))
        # Move N_opt at the largest budget by a factor exp(ln 2 z), through A (Hoffmann et al. 2022, Eq. 4).
        a = c["beta"] / (c["alpha"] + c["beta"])
        wanted = _n_opt(bases[i % 2], BUDGETS[-1]) * math.exp(math.log(2.0) * rng.standard_normal())
        G = wanted / (BUDGETS[-1] / 6.0) ** a
        c["A"] = G ** (c["alpha"] + c["beta"]) * c["beta"] * c["B"] / c["alpha"]
        out.append(c)
    return out


def _n_opt(c: dict[str, float], flops: float) -> float:
    return float(get_law("chinchilla").optimal(c, np.array([flops]))[0][0])


class World:
    """One ground truth and its noise: turns planned runs into a runs table."""

    def __init__(self, coefficients: dict[str, float], noise, rng: np.random.Generator):
        self.c, self.noise, self.rng = coefficients, noise, rng

    def train(self, budgets: np.ndarray, params: np.ndarray, seeds: np.ndarray) -> pd.DataFrame:
        tokens = budgets / (6.0 * params)
        sd = self.noise.at(CPU_SMALLEST * budgets / BUDGETS[0])
        loss = get_law("chinchilla").predict(self.c, params=params, tokens=tokens) * np.exp(sd * self.rng.standard_normal(budgets.size))
        return pd.DataFrame({"params": params, "tokens": tokens, "flops": budgets, "budget_flops": budgets,
                             "seed": seeds, "loss": loss})


def grid_study(world: World) -> tuple[pd.DataFrame, float]:
    budgets = np.repeat(BUDGETS, SIZES.size)
    params = np.concatenate([float(PRIOR.optimal(b)[0]) * SIZES for b in BUDGETS])
    return world.train(budgets, params, np.zeros(budgets.size, dtype=int)), float(budgets.sum())


def designed_study(world: World, study_flops: float, seed: int) -> tuple[pd.DataFrame | None, float]:
    goal = Goal(target=TARGET, study_flops=study_flops, approach="2", max_run_flops=BUDGETS[-1],
                min_run_flops=BUDGETS[0], prior="chinchilla", round_fraction=0.5, max_rounds=4)
    runs, spent = None, 0.0
    for round_number in range(goal.max_rounds):
        proposal = next_round(goal, runs, spent, seed=seed + round_number, last=round_number + 1 == goal.max_rounds)
        if proposal is None:
            break
        rows = []
        for block in proposal.blocks:
            for params in block.params:
                taken = 0 if runs is None else int(((runs["budget_flops"] == block.flops)
                                                    & (runs["params"] == params)).sum())
                rows += [(block.flops, params, taken + s) for s in range(block.seeds)]
        budgets, params, seeds = (np.array(v) for v in zip(*rows))
        new = world.train(budgets.astype(float), params.astype(float), seeds.astype(int))
        runs = new if runs is None else pd.concat([runs, new], ignore_index=True)
        spent += proposal.flops
    return runs, spent


def score(runs: pd.DataFrame | None, truth: dict[str, float]) -> tuple[float, bool]:
    if runs is None:
        return math.inf, False
    goal = Goal(target=TARGET, study_flops=1e30, approach="2")
    result = achieved(goal, runs.assign(run_id=[f"r{i}" for i in range(len(runs))]))
    if result["width"] is None:
        return math.inf, False
    low, high = result["interval"]
    return result["width"], low <= _n_opt(truth, TARGET) <= high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--laws", type=int, default=20)
    parser.add_argument("--replicates", type=int, default=1, help="noise draws per law")
    parser.add_argument("--fractions", default="0.25,0.5,1", help="designer FLOPs / grid FLOPs")
    args = parser.parse_args()
    fractions = [float(f) for f in args.fractions.split(",")]
    noise = seed_noise(read_runs(CPU_ISOFLOP))
    print(f"run noise from runs/cpu-isoflop: sd {noise.at(CPU_SMALLEST):.2%} at the smallest budget, slope "
          f"{noise.slope:.2f} (log sd per log C): {noise.at(CPU_SMALLEST):.2%} at 1e18 .. "
          f"{noise.at(CPU_SMALLEST * 100):.2%} at 1e20 FLOPs here")
    results: dict[str, list[tuple[float, bool, float]]] = {"grid": [], **{f"designer x{f:g}": [] for f in fractions}}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, truth in enumerate(truths(args.laws)):
            for r in range(args.replicates):
                rng_seed = 1000 * i + r
                runs, grid_flops = grid_study(World(truth, noise, np.random.default_rng(rng_seed)))
                results["grid"].append((*score(runs, truth), grid_flops))
                for f in fractions:
                    world = World(truth, noise, np.random.default_rng(rng_seed + 500))
                    runs, spent = designed_study(world, f * grid_flops, seed=rng_seed)
                    results[f"designer x{f:g}"].append((*score(runs, truth), spent))
            print(f"  law {i + 1}/{args.laws} done ({time.perf_counter() - start:.0f} s)", flush=True)
    grid_flops = results["grid"][0][2]
    print(f"\nN_opt at {TARGET:.0e} FLOPs, 90% intervals, {args.laws} laws x {args.replicates} noise draws")
    print(f"{'study':<16} {'FLOPs':>9} {'x grid':>7} {'median width':>13} {'coverage':>9} {'not identified':>15}")
    medians = {}
    for name, rows in results.items():
        widths = np.array([w for w, _, _ in rows])
        covered = np.mean([c for _, c, _ in rows])
        spent = float(np.median([s for _, _, s in rows]))
        medians[name] = (spent, float(np.median(widths)))
        print(f"{name:<16} {spent:>9.3g} {spent / grid_flops:>7.2f} {np.median(widths):>13.1%} {covered:>9.0%} "
              f"{int(np.sum(~np.isfinite(widths))):>15}")
    grid_width = medians["grid"][1]
    points = sorted((s, w) for name, (s, w) in medians.items() if name != "grid" and math.isfinite(w))
    matched = None
    for (s0, w0), (s1, w1) in zip(points, points[1:]):
        if (w0 - grid_width) * (w1 - grid_width) <= 0 and w0 != w1:
            t = (math.log(w0) - math.log(grid_width)) / (math.log(w0) - math.log(w1))
            matched = math.exp(math.log(s0) + t * (math.log(s1) - math.log(s0)))
            break
    if matched is None and points and points[0][1] <= grid_width:
        print(f"\nthe designer matches the grid's width ({grid_width:.1%}) already at {points[0][0] / grid_flops:.2f}x "
              "its FLOPs, the smallest fraction tried")
    elif matched is not None:
        print(f"\nthe designer matches the grid's width ({grid_width:.1%}) at {matched:.3g} FLOPs, "
              f"{matched / grid_flops:.2f}x the grid's {grid_flops:.3g}")
    else:
        print(f"\nthe designer does not match the grid's width ({grid_width:.1%}) within the fractions tried")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
