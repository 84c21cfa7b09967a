"""A synthetic sweep directory for plot tests: curves that follow a published law, so they cross
and the Approach-1 envelope has interior winners. Not a test module (no `test_` prefix)."""

from pathlib import Path

import numpy as np
import pandas as pd

from scaling.laws.presets import get_preset

SIZES = np.geomspace(1e7, 1e9, 7)
"""Model sizes N of the synthetic runs (params)."""


def write_sweep(root: Path, name: str = "synthetic") -> Path:
    """`root/name/` with summary.parquet and <run_id>/curve.parquet (the columns scaling.rundir.curve lists that a fit reads)."""
    law = get_preset("epoch2024")
    sweep = root / name
    rows = []
    for index, params in enumerate(SIZES):
        run_id = f"run{index}"
        tokens = np.geomspace(2e7, 200 * params, 40)
        loss = law.predict(params, tokens)
        (sweep / run_id).mkdir(parents=True)
        curve = pd.DataFrame({"run_id": run_id, "step": np.arange(1, 41), "tokens_seen": tokens,
                              "flops_seen": 6 * params * tokens, "loss": loss})
        # Training and held-out rows, as a trainer logs them; Approach 1 and its plot read "train".
        pd.concat([curve.assign(split="train"), curve.assign(split="val", loss=loss + 0.01)]).to_parquet(
            sweep / run_id / "curve.parquet")
        rows.append({"run_id": run_id, "params": params, "tokens": tokens[-1], "flops": 6 * params * tokens[-1],
                     "loss": loss[-1], "status": "ok"})
    pd.DataFrame(rows).to_parquet(sweep / "summary.parquet")
    return sweep
