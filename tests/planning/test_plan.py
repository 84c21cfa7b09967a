"""Planning (scaling.planning.optimal, scaling.hardware) from published presets."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.flops import count_params
from scaling.hardware import GPU_PEAK_FLOPS, Hardware, gpu_spec
from scaling.laws.presets import PRESETS
from scaling.planning.optimal import Plan, plan, plan_for_params, plan_for_tokens, plan_report

ALL = list(PRESETS.values())


def test_gpu_peaks_from_reference():
    # NVIDIA datasheets, dense bf16 Tensor Core, no sparsity (each datasheet prints twice these
    # "with sparsity"): A100 SXM4/PCIe 312; H100 SXM5 989, PCIe 756, NVL 835; H200 SXM 989, NVL
    # 835; L40S 362; HGX B200 2,250 TFLOP/s.
    assert GPU_PEAK_FLOPS == {"a100": 312e12, "a100-pcie": 312e12, "h100": 989e12, "h100-pcie": 756e12,
                              "h100-nvl": 835e12, "h200": 989e12, "h200-nvl": 835e12, "l40s": 362e12,
                              "b200": 2250e12}


@pytest.mark.parametrize(("device_name", "key", "memory_gb"), [
    # names as the driver reports them (nvidia-smi, torch.cuda.get_device_name)
    ("NVIDIA A100-SXM4-80GB", "a100", 80), ("NVIDIA A100-SXM4-40GB", "a100", 40),
    ("NVIDIA A100-PCIE-40GB", "a100-pcie", 40), ("NVIDIA A100 80GB PCIe", "a100-pcie", 80),
    ("NVIDIA H100 80GB HBM3", "h100", 80), ("NVIDIA H100 PCIe", "h100-pcie", 80), ("NVIDIA H100 NVL", "h100-nvl", 94),
    ("NVIDIA H200", "h200", 141), ("NVIDIA H200 NVL", "h200-nvl", 141), ("NVIDIA L40S", "l40s", 48),
    ("NVIDIA B200", "b200", 180), ("h100-pcie", "h100-pcie", 80),
])
def test_gpu_variants_are_told_apart_by_device_name(device_name, key, memory_gb):
    spec = gpu_spec(device_name)
    assert spec is not None and spec.key == key and spec.memory == memory_gb * 1e9


def test_unknown_gpus_have_no_spec():
    assert gpu_spec("NVIDIA GeForce RTX 4090") is None and gpu_spec("Tesla V100-SXM2-16GB") is None


def test_hardware_arithmetic_round_trips():
    hw = Hardware(gpu="a100", gpus=8, mfu=0.5)
    assert hw.gpu_hours(312e12 * 0.5 * 3600) == pytest.approx(1.0)
    assert hw.days(hw.flops_for_days(3.0)) == pytest.approx(3.0)
    assert hw.flops_for_gpu_hours(24 * 8) == pytest.approx(hw.flops_for_days(1.0))
    with pytest.raises(ValueError, match="unknown GPU 'v100'"):
        Hardware(gpu="v100")
    with pytest.raises(ValueError, match="mfu"):
        Hardware(gpu="h100", mfu=1.5)


def test_plan_chinchilla_golden():
    # Hoffmann et al. 2022, Eq. 4 with the printed Eq. 10 constants: N ~ 326M at 2.21e19.
    result = plan(PRESETS["chinchilla"], 2.21e19)
    assert result.params == pytest.approx(326e6, rel=5e-3)
    assert result.tokens_per_param == pytest.approx(result.tokens / result.params)
    assert result.loss == pytest.approx(float(PRESETS["chinchilla"].predict(result.params, result.tokens)))
    counts = count_params(result.shape)
    assert counts.total == result.shape_params
    assert abs(result.shape_params / result.params - 1) <= 0.05


def test_kaplan_plan_is_non_embedding_with_details():
    result = plan(PRESETS["kaplan2020"], 1e21)
    assert result.params_convention == "non-embedding" and result.loss is None
    assert "Eq. 5.5" in result.budget_convention
    assert set(result.details) == {"batch_tokens", "steps_min"}
    assert count_params(result.shape).non_embedding == result.shape_params


@pytest.mark.parametrize("name", list(PRESETS))
def test_params_and_tokens_modes_invert_the_optimum(name):
    preset = PRESETS[name]
    by_flops = plan(preset, 3e21)
    by_params = plan_for_params(preset, by_flops.params, params_convention=preset.params_convention)
    assert by_params.flops == pytest.approx(3e21, rel=1e-8)
    by_tokens = plan_for_tokens(preset, by_flops.tokens)
    assert by_tokens.flops == pytest.approx(3e21, rel=1e-8)
    assert by_tokens.params == pytest.approx(by_flops.params, rel=1e-8)


@settings(max_examples=25, deadline=None)
@given(log_c=st.floats(17, 26), step=st.floats(0.05, 2))
def test_params_grow_with_budget(log_c, step):
    for preset in ALL:
        assert plan(preset, 10 ** (log_c + step)).params > plan(preset, 10**log_c).params


def test_report_json_shape_and_round_trip():
    report = plan_report(ALL, flops=1e21, hardware=Hardware(gpu="h100", gpus=8, mfu=0.4))
    data = json.loads(report.to_json())
    assert data["flops"] == 1e21 and len(data["plans"]) == len(PRESETS)
    for row in data["plans"]:
        assert {"label", "law", "params", "tokens", "tokens_per_param", "flops", "loss", "params_convention"} <= set(row)
        assert row["params_convention"] in ("total", "non-embedding")
        assert row["flops"] == 1e21 and row["gpu_hours"] > 0
    assert [r["loss"] is None for r in data["plans"]] == [not p.predicts_loss for p in ALL]
    assert any("not comparable" in note for note in report.assumptions)
    assert any("Eq. 5.5" in note for note in report.assumptions)
    for item in report.plans:
        assert Plan.from_json(item.to_json()) == item


def test_report_rejects_ambiguous_requests():
    with pytest.raises(ValueError, match="exactly one of flops, params, tokens"):
        plan_report(ALL, flops=1e21, params=1e9)
    with pytest.raises(ValueError, match="exactly one"):
        plan_report(ALL)
    with pytest.raises(ValueError, match="flops must be a positive finite"):
        plan(PRESETS["chinchilla"], float("inf"))


def test_flops_method_says_6nd_only_when_6nd_is_the_budget():
    for p in plan_report(ALL, flops=1e21).plans:
        assert (p.flops_method == "6ND") == (6 * p.params * p.tokens == pytest.approx(p.flops, rel=1e-6)), p.label
    kaplan = plan(PRESETS["kaplan2020"], 1e21)
    assert kaplan.flops_method != "6ND" and "2 C_min" in kaplan.flops_method


def test_budgets_outside_the_supported_range_are_rejected():
    for budget in (1e300, 1e-300, 1e5, 1e45):
        with pytest.raises(ValueError, match="`flops` .*1e\\+10 to 1e\\+40"):
            plan(PRESETS["chinchilla"], budget)
    with pytest.raises(ValueError, match="params"):
        plan_for_params(PRESETS["chinchilla"], 1e300)
    with pytest.raises(ValueError, match="tokens"):
        plan_for_tokens(PRESETS["chinchilla"], 1e-300)


def test_report_json_refuses_nan():
    report = plan_report([PRESETS["chinchilla"]], flops=1e21)
    bad = type(report)(flops=float("nan"), plans=report.plans)
    with pytest.raises(ValueError):
        bad.to_json()


def test_a_plan_request_takes_its_budget_from_the_one_option_given():
    from scaling.planning.report import BeyondReport
    from scaling.planning.request import PlanRequest, answer, budget

    # 1,000 H100 GPU-hours at 40% MFU: 1e3 h x 3,600 s x 989 TFLOP/s (NVIDIA H100 SXM datasheet,
    # dense BF16) x 0.4 = 1.424e21 FLOPs.
    hardware, flops = budget(PlanRequest(gpu_hours=1e3, gpu="h100", mfu=0.4))
    assert hardware is not None and flops == pytest.approx(1.4242e21, rel=1e-4)
    assert budget(PlanRequest(params=7e9)) == (None, None)
    with pytest.raises(ValueError, match="exactly one of `flops`.*got `flops` and `params`"):
        budget(PlanRequest(flops=1e21, params=7e9))
    with pytest.raises(ValueError, match="`days` needs `gpu`"):
        budget(PlanRequest(days=3))
    report = answer(PlanRequest(flops=1e21))
    assert not isinstance(report, BeyondReport) and {p.label for p in report.plans} == set(PRESETS)
    target = answer(PlanRequest(loss=2.1, laws=("epoch2024",)))
    assert isinstance(target, BeyondReport) and target.question == "target-loss"
