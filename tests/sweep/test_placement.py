"""Placement: workers, GPUs, threads and per-run memory decided once, for the sweep and its dry
run; runs packed onto GPUs by estimated memory; micro batches sized for each run's share."""

from __future__ import annotations

import pytest

from scaling import hardware
from scaling.hardware import Gpu, visible_gpus
from scaling.sweep import placement
from scaling.sweep.placement import named_gpus, place
from scaling.sweep.dryrun import dry_run
from scaling.sweep.scheduler import place_sweep
from scaling.sweep.spec import plan_runs, train_config
from scaling.sweep.specfile import load_spec
from scaling.training.bounds import GPU_USABLE

LISTING = [hardware._Listed("0", "NVIDIA H100 80GB HBM3", 81559 * 2**20, "GPU-aaa"),
           hardware._Listed("1", "NVIDIA H100 80GB HBM3", 81559 * 2**20, "GPU-bbb")]


def test_visible_gpus_is_the_driver_list_narrowed_by_cuda_visible_devices(monkeypatch):
    monkeypatch.setattr(hardware, "_nvidia_smi", lambda: LISTING)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert [g.id for g in visible_gpus()] == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbb")
    assert [(g.id, g.spec.key) for g in visible_gpus()] == [("GPU-bbb", "h100")]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,-1,0")  # CUDA stops at the first invalid id
    assert [g.id for g in visible_gpus()] == ["1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


def test_gpu_small_packs_several_runs_per_gpu_within_each_share(monkeypatch):
    monkeypatch.setattr(placement, "cpu_cores", lambda: (32, 32, 0.0))
    gpus = [Gpu(g.id, g.name, g.memory) for g in LISTING]  # as visible_gpus finds them
    spec = load_spec("gpu-small")
    where = place([train_config(spec, run) for run in plan_runs(spec)], device="cuda", gpus=gpus)
    assert where.runs_per_gpu > 1 and where.workers == 2 * where.runs_per_gpu
    assert where.memory == pytest.approx(81559 * 2**20 * GPU_USABLE / where.runs_per_gpu)
    assert where.memory_fraction == pytest.approx(1 / where.runs_per_gpu)
    assert where.worker_gpus()[:4] == ["0", "1", "0", "1"]
    plan = dry_run(spec, gpus=named_gpus("h100:2"))
    assert "8 run(s) per GPU" in plan.placement
    assert all(run["memory"] <= 80e9 * GPU_USABLE / 8 for run in plan.runs)


def test_a_large_run_gets_a_card_to_itself(monkeypatch):
    spec = load_spec("gpu-1b")
    where = place_sweep(spec, gpus=named_gpus("h100:4"))
    assert where.runs_per_gpu == 1 and where.workers == 4


@pytest.mark.parametrize("card", ["h100", "h200", "h200:8", "a100-pcie", "l40s", "b200"])
def test_gpu_1b_dry_run_fits_every_run_on_a_named_card(card):
    """Each run's batch (DeepSeek's rule: prime numbers among them) in whole micro batches
    that fit the card; the batch moves by less than half a micro batch per accumulation step."""
    plan = dry_run(load_spec("gpu-1b"), gpus=named_gpus(card))
    share = named_gpus(card)[0].memory * GPU_USABLE
    for run in plan.runs:
        assert run["memory"] <= share
        assert run["micro_batch_size"] * run["accumulation_steps"] == run["batch_size"]
        asked = run["batch_size_asked"] or run["batch_size"]
        assert abs(run["batch_size"] - asked) <= run["accumulation_steps"] / 2
    assert any(run["accumulation_steps"] > 1 for run in plan.runs)


def test_busy_cores_lower_the_threads_and_are_said(monkeypatch):
    monkeypatch.setattr(placement.os, "getloadavg", lambda: (14.0, 14.0, 14.0))
    monkeypatch.setattr(placement.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    cores, free, load = placement.cpu_cores()
    assert (cores, free) == (16, 2)
    spec = load_spec("gpu-small")
    where = place([train_config(spec, run) for run in plan_runs(spec)], device="cuda", gpus=named_gpus("h100"))
    assert where.threads == 1 and "14 of 16 cores busy" in where.describe()
    cpu = place([train_config(spec, run) for run in plan_runs(spec)], device="cpu", gpus=[])
    assert cpu.workers == 2 and not cpu.on_gpu
    # a busy machine is shown, not warned of (run_sweep warns only of notes): its threads already follow
    assert cpu.notes == [] and "14 of 16 cores busy" in cpu.describe()
    crowded = place([train_config(spec, run) for run in plan_runs(spec)], device="cpu", gpus=[], workers=4)
    assert crowded.notes == ["4 workers on 2 free cores: oversubscribed"]


def test_unknown_card_names_are_refused_in_one_line():
    with pytest.raises(ValueError, match="--gpu: unknown GPU 'v100'; known: a100"):
        named_gpus("v100")
    with pytest.raises(ValueError, match="count after ':'"):
        named_gpus("h100:zero")


@pytest.mark.slow
def test_a_designed_1e23_spec_dry_runs_on_an_h100(tmp_path):
    """`scaling design --target 1e23 --study-flops 3e19 --format toml` writes a spec whose runs
    once needed 77 GiB for one forward pass of the whole batch; on an H100 each fits the card."""
    from typer.testing import CliRunner

    from scaling.cli import app

    designed = CliRunner().invoke(app, ["design", "--target", "1e23", "--study-flops", "3e19", "--format", "toml"])
    assert designed.exit_code == 0, designed.output
    path = tmp_path / "design.toml"
    path.write_text(designed.stdout)
    dry = CliRunner().invoke(app, ["sweep", str(path), "--dry-run", "--gpu", "h100", "--out", str(tmp_path / "runs")])
    assert dry.exit_code == 0, dry.output
    assert "placement: 1 x H100 SXM5" in dry.output and " x 1 " in dry.output
