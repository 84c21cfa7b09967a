"""One result contract: every top-level result has to_dict, to_json (with its schema tag) and
from_json, and reading what it wrote gives it back."""

import json
from pathlib import Path

import pytest

from scaling.analysis.backtest import BacktestPoint, BacktestReport
from scaling.analysis.compare import Comparison, compare
from scaling.fit.result import FitResult
from scaling.hardware import Hardware
from scaling.laws.presets import get_preset
from scaling.planning import BeyondReport, plan_beyond
from scaling.planning.optimal import Plan, PlanReport, plan, plan_report

FIXTURE = Path(__file__).parent / "fixtures" / "fitresult_schema1_chinchilla.json"


def point() -> BacktestPoint:
    return BacktestPoint(approach="2", cutoff_flops=1e19, n_runs_fitted=20, flops=1e20, extrapolation_decades=1.0,
                         observed_params=1e8, observed_loss=3.0, predicted_params=1.1e8, predicted_loss=None,
                         params_error_pct=10.0, loss_error_pct=None, scored=True)


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
}
TYPES = {"FitResult": FitResult, "Plan": Plan, "PlanReport": PlanReport, "Comparison": Comparison,
         "BacktestReport": BacktestReport, "BeyondReport": BeyondReport}


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
    with pytest.raises(ValueError, match=f"not a {cls.SCHEMA} document|this version reads .*{cls.SCHEMA}"):
        cls.from_json(json.dumps({"schema": "scaling.Other/1"}))


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
    assert [a for a, _ in numbers] == pytest.approx([b for _, b in numbers], rel=1e-9)
    assert [a for _, a in old if not isinstance(a, float)] == [b for _, b in new if not isinstance(b, float)]
