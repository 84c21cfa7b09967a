"""`scaling design` end to end: from the prior alone, from a partial study, and as a sweep spec."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from design_world import truth_loss
from scaling.cli import app
from scaling.sweep.spec import plan_runs
from scaling.sweep.specfile import load_spec

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_prior_only_design_answers_in_seconds_with_its_predicted_width():
    start = time.perf_counter()
    document = json.loads(invoke("design", "--target", "1e23", "--study-flops", "3e18", "--format", "json"))
    assert time.perf_counter() - start < 30  # seconds on a quiet machine; generous for loaded CI
    assert document["schema"] == "scaling.DesignProposal/1"
    assert document["width_now"] is None and 0 < document["predicted_width"] < 5
    assert document["flops"] <= 3e18 and document["blocks"]
    assert "prior chinchilla" in document["belief"]["source"]


@pytest.mark.slow  # an Approach 3 fit and simulated refits (12 s); the prior-only design is the fast one
def test_partial_study_design_starts_from_the_fit_and_the_seed_noise(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"params": n, "tokens": c / (6 * n), "flops": c, "seed": s,
             "loss": truth_loss(n, c / (6 * n)) * np.exp(0.01 * rng.standard_normal())}
            for c in (1e16, 1e17) for n in np.geomspace(5e6, 2e8, 6) * (c / 1e17) ** 0.5 for s in (0, 1)]
    path = tmp_path / "runs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    table = invoke("design", "--target", "1e22", "--study-flops", "3e18", "--max-run-flops", "1e18",
                   "--runs", str(path))
    assert "Approach 3 fit of 12 configurations" in table
    assert "seed scatter at 2 budgets" in table
    now, after = table.split("interval width at the target ((high - low) / estimate): ")[1].split(" predicted")[0] \
        .split(" now -> ")
    assert float(after.rstrip("%")) < float(now.rstrip("%"))


@pytest.mark.slow  # designs twice against a bundled spec (20 s); round specs' TOML: tests/design/test_study.py
def test_toml_output_is_a_sweep_spec_that_plans_the_proposed_runs(tmp_path):
    args = ("design", "--target", "1e15", "--study-flops", "3e13", "--max-run-flops", "3e12",
            "--min-run-flops", "1e10", "--spec", "cpu-isoflop")
    document = json.loads(invoke(*args, "--format", "json"))
    path = tmp_path / "next.toml"
    path.write_text(invoke(*args, "--format", "toml"))
    spec = load_spec(path)
    assert spec.name == "cpu-isoflop" and spec.shape.n_layer == 3  # the base spec's family
    planned = plan_runs(spec)
    proposed = sum(len(b["params"]) * b["seeds"] for b in document["blocks"])
    assert len(planned) == proposed
    assert {r.budget_flops for r in planned} == {b["flops"] for b in document["blocks"]}
