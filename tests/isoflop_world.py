"""Synthetic IsoFLOP sweeps of a known Chinchilla law, shared by the Approach 2 and FLOP-convention tests."""

import numpy as np
import pandas as pd

from scaling.laws.registry import get_law

TRUTH = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}  # Hoffmann et al. 2022, Eq. 10


def isoflop_runs(truth=TRUTH, budgets=np.geomspace(1e18, 1e22, 9), sizes_per_budget=25, span=30.0, jitter=0.0):
    law = get_law("chinchilla")
    rows = []
    rng = np.random.default_rng(0)
    for budget in budgets:
        centre, _ = law.optimal(truth, budget)
        params = np.geomspace(centre / span, centre * span, sizes_per_budget)
        flops = budget * np.exp(rng.uniform(-jitter, jitter, params.size))
        tokens = flops / (6 * params)
        rows.append(pd.DataFrame({"params": params, "tokens": tokens, "flops": flops,
                                  "loss": law.predict(truth, params=params, tokens=tokens)}))
    return pd.concat(rows, ignore_index=True)
