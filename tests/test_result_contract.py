"""One result contract: every top-level result has to_dict, to_json (with its schema tag) and
from_json, and reading what it wrote gives it back."""

import json
from pathlib import Path

import pytest

from scaling.analysis.backtest import BacktestPoint, BacktestReport
from scaling.analysis.compare import Comparison, compare
from scaling.design.designer import Block, Proposal
from scaling.fit.prediction import Prediction, predict_losses
from scaling.fit.result import FitResult
from scaling.hardware import Hardware
from scaling.laws.presets import LawListing, get_preset, listing
from scaling.planning import BeyondReport, plan_beyond
from scaling.planning.optimal import Plan, PlanReport, plan, plan_report
from scaling.rundir.record import RunRecord, read_record
from scaling.sweep.dryrun import DryRun
from scaling.sweep.status import RunsStatus, SweepResult, runs_status
from scaling.training.rules import DEEPSEEK_RULES, TuneRules

FIXTURE = Path(__file__).parent / "fixtures" / "fitresult_schema1_chinchilla.json"
CPU_TUNE = Path(__file__).resolve().parents[1] / "runs" / "cpu-tune"
CPU_DESIGN = Path(__file__).resolve().parents[1] / "runs" / "cpu-design"
CPU_ISOFLOP_FIT = Path(__file__).resolve().parents[1] / "runs" / "cpu-isoflop" / "fits" / "total.approach_3.json"


def point() -> BacktestPoint:
    return BacktestPoint(approach="2", cutoff_flops=1e19, n_runs_fitted=20, flops=1e20, extrapolation_decades=1.0,
                         observed_params=1e8, observed_loss=3.0, predicted_params=1.1e8, predicted_loss=None,
                         params_error_pct=10.0, loss_error_pct=None, scored=True)


def proposal() -> Proposal:
    return Proposal(target=1e22, approach="3", quantity="params", level=0.95,
                    blocks=(Block(flops=1e17, params=(1e7, 2.2e7, 4.84e7), seeds=2), Block(flops=3.16e17,
                                                                                          params=(2e7, 4.4e7), seeds=1)),
                    flops=1.6e18, study_flops=5e18, width_now=None, predicted_width=0.31,
                    method="delta method over all candidates", belief={"law": "chinchilla", "draws": 32},
                    existing_runs=0, candidates=120, notes=("a note",), later=(Block(flops=1e18, params=(1e8,), seeds=1),))


def dry_run() -> DryRun:
    run = {"run_id": "bfd6235ad336", "budget_flops": 1e9, "params": 2072, "tokens": 80438, "flops": 1000005216.0,
           "seed": 0, "n_layer": 1, "d_model": 8, "lr": 0.0177, "batch_size": 16, "lr_source": "0.05/sqrt(d_model)",
           "batch_source": "given", "status": "ok", "est_s": 2.7}
    return DryRun([run, {**run, "run_id": "3f8f6a0eecae", "status": "pending", "est_s": 0.67}], 2, 3.4,
                  "from this store's finished runs")


RESULTS = {
    "FitResult": lambda: FitResult.from_json(FIXTURE.read_text()),
    "Plan": lambda: plan(get_preset("chinchilla"), 1e21, hardware=Hardware(gpu="h100", gpus=8)),
    "PlanReport": lambda: plan_report([get_preset("chinchilla"), get_preset("kaplan2020")], flops=1e21,
                                      hardware=Hardware(gpu="h100")),
    "Comparison": lambda: compare([get_preset("kaplan2020"), get_preset("chinchilla")], [get_preset("chinchilla")],
                                  [1e21, 1e23]),
    "BacktestReport": lambda: BacktestReport(data="runs", approaches=("2",), budgets=(1e18, 1e19, 1e20),
                                             points=(point(),), summary=({"approach": "2", "n": 1},)),
    "BeyondReport:inference": lambda: plan_beyond(flops=1e22, inference_tokens=1e12),
    "BeyondReport:cost": lambda: plan_beyond(flops=1e22, hardware=Hardware(gpu="h100"), price_per_gpu_hour=2.0),
    "BeyondReport:target-loss": lambda: plan_beyond(loss=2.2),
    "BeyondReport:data-constrained": lambda: plan_beyond(flops=1e22, unique_tokens=1e11),
    "Proposal": proposal,
    "TuneRules:cpu-tune": lambda: TuneRules.from_json((CPU_TUNE / "rules.json").read_text()),
    "TuneRules:deepseek": lambda: DEEPSEEK_RULES,
    "RunRecord:ok": lambda: read_record(sorted(CPU_TUNE.glob("*/record.json"))[0].parent),
    "RunRecord:failed": lambda: RunRecord(run_id="abc123", status="failed", loss=None, config={"seed": 3},
                                          error="RuntimeError: boom", traceback=""),
    "DryRun": dry_run,
    "SweepResult": lambda: SweepResult(sweep_dir="runs/cpu-smoke", ok=6, diverged=1, failed=1, already_done=0,
                                       summary="runs/cpu-smoke/summary.parquet"),
    "RunsStatus:sweep": lambda: runs_status(CPU_TUNE),
    "RunsStatus:design": lambda: runs_status(CPU_DESIGN),
    "LawListing": listing,
    "Prediction": lambda: predict_losses(FitResult.read(CPU_ISOFLOP_FIT), [1e5, 1e6], [1e7, 1e8]),
}
TYPES = {"FitResult": FitResult, "Plan": Plan, "PlanReport": PlanReport, "Comparison": Comparison,
         "BacktestReport": BacktestReport, "BeyondReport": BeyondReport, "Proposal": Proposal, "TuneRules": TuneRules,
         "RunRecord": RunRecord, "DryRun": DryRun, "SweepResult": SweepResult, "RunsStatus": RunsStatus,
         "LawListing": LawListing, "Prediction": Prediction}


@pytest.mark.parametrize("name", RESULTS)
def test_round_trip_through_tagged_json(name):
    result = RESULTS[name]()
    cls = TYPES[name.split(":")[0]]
    text = result.to_json()
    assert json.loads(text)["schema"] == cls.SCHEMA and "schema" not in result.to_dict()
    again = cls.from_json(text)
    assert again.to_dict() == result.to_dict()
    assert again.to_json() == text


@pytest.mark.parametrize("cls", TYPES.values(), ids=TYPES)
def test_another_document_is_refused(cls):
    with pytest.raises(ValueError, match=f"not a {cls.SCHEMA} document|this version reads .*{cls.SCHEMA}"
                                         f"|not a rules file \\(schema must be '{cls.SCHEMA}'\\)"):
        cls.from_json(json.dumps({"schema": "scaling.Other/1"}))


def test_a_dry_run_document_keeps_its_key_order_and_counts_the_runs_to_train():
    document = json.loads(dry_run().to_json())
    assert list(document) == ["schema", "runs", "to_train", "workers", "wall_s", "basis", "placement"]
    assert document["to_train"] == 1


def test_a_runs_status_names_design_rounds_only_for_a_designed_study():
    plain, designed = json.loads(runs_status(CPU_TUNE).to_json()), json.loads(runs_status(CPU_DESIGN).to_json())
    assert list(plain) == ["schema", "sweep_dir", "runs"]
    assert list(designed) == ["schema", "sweep_dir", "runs", "design_rounds"] and designed["design_rounds"]
    assert list(designed["runs"][0]) == ["run_id", "status", "budget_flops", "n_layer", "d_model", "params",
                                         "tokens", "seed", "loss", "wall_s", "device"]


SCHEMA1 = {  # written by the release of each /1 schema, where `law` was the label (and Plan's `law_form` the key)
    "plan_schema1.json": (Plan, lambda: plan(get_preset("kaplan2020"), 1e21)),
    "planreport_schema1.json": (PlanReport, lambda: plan_report([get_preset("chinchilla"), get_preset("kaplan2020")],
                                                                flops=1e21, hardware=Hardware(gpu="h100", gpus=8))),
    "beyondreport_schema1_data_constrained.json": (
        BeyondReport, lambda: plan_beyond([get_preset("muennighoff2023")], flops=1e22, unique_tokens=1e10)),
    "beyondreport_schema1_inference.json": (
        BeyondReport, lambda: plan_beyond([get_preset("chinchilla")], flops=1e22, inference_tokens=2e12)),
    "beyondreport_schema1_target_loss.json": (
        BeyondReport, lambda: plan_beyond([get_preset("chinchilla"), get_preset("epoch2024")], loss=1.8)),
    "beyondreport_schema1_cost.json": (
        BeyondReport, lambda: plan_beyond([get_preset("chinchilla")], flops=1e22, hardware=Hardware(gpu="h100", gpus=8),
                                          price_per_gpu_hour=2.5)),
    "comparison_schema1.json": (Comparison, lambda: compare([get_preset("kaplan2020"), get_preset("chinchilla")],
                                                            [get_preset("chinchilla")], [1e21])),
}


def _leaves(value, path=""):
    """(path, leaf) pairs of a JSON value, in order."""
    if isinstance(value, dict):
        return [pair for key, v in value.items() for pair in _leaves(v, f"{path}.{key}")]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in _leaves(v, f"{path}[{i}]")]
    return [(path, value)]


@pytest.mark.parametrize("name", SCHEMA1)
def test_schema1_documents_still_load_with_law_as_the_registry_key(name):
    cls, today = SCHEMA1[name]
    old = _leaves(cls.from_json((FIXTURE.parent / name).read_text()).to_dict())
    new = _leaves(today().to_dict())
    assert [path for path, _ in old] == [path for path, _ in new]
    numbers = [(a, b) for (_, a), (_, b) in zip(old, new) if isinstance(b, float)]
    # A numerical minimum is located only to about sqrt(machine epsilon) of its argument (the objective
    # is flat there), so an inference-optimal allocation moves by ~1e-7 between numpy/libm builds (seen:
    # 1.3e-7 at the lowest supported numpy); 1e-6 still catches any change of formula or constant.
    assert [a for a, _ in numbers] == pytest.approx([b for _, b in numbers], rel=1e-6)
    assert [a for _, a in old if not isinstance(a, float)] == [b for _, b in new if not isinstance(b, float)]


@pytest.mark.parametrize("name", ["fitresult_schema1_chinchilla.json", "fitresult_schema2_approach2.json"])
def test_older_fit_documents_load_with_the_fields_added_since_at_their_meaning_then(name):
    text = (FIXTURE.parent / name).read_text()
    written = json.loads(text)
    fit = FitResult.from_json(text)
    # Every field the old document had reads back unchanged; the fields added since take the
    # values that describe how those versions fitted (C = 6 N D, no filters, nothing checked).
    again = json.loads(fit.to_json())
    assert again["schema"] == FitResult.SCHEMA != written["schema"]
    assert {k: v for k, v in again.items() if k in written and k != "schema"} == \
        {k: v for k, v in written.items() if k != "schema"}
    assert (fit.flops_convention, fit.columns, fit.where, fit.data_range, fit.residuals) == ("6ND", {}, [], {}, None)
    assert fit.optimal([1e21])[0][0] > 0
