"""Commands that train (`tune`, `sweep`, `train`) check what they need before any work: without
torch (or ray for --backend ray, or a GPU for a cuda spec) they print one line naming what is
missing and how to install it, exit 2, and leave nothing on disk."""

from __future__ import annotations

import sys
from pathlib import Path

from importlib.util import find_spec

import pytest
from typer.testing import CliRunner

from sweep_specs import tiny_spec
from scaling.cli import app

needs_torch = pytest.mark.skipif(find_spec("torch") is None, reason="needs torch: pip install -e '.[train]' (its check comes first)")

TUNE = tiny_spec(name="tiny-tune", budgets="[1e8]", widths="[8]").replace(
    "batch_size = 8\n", "") + "[tune]\nlr = [0.001, 0.01]\nbatch_size = [4, 8]\n"
NEEDS_TORCH = "error: this command needs torch: pip install 'scaling-laws[train]'"


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """An environment without torch: a None entry in sys.modules makes importlib's finder and
    `import torch` both report it missing; the modules that imported it earlier in this process
    are set aside (restored after the test), so nothing reaches the torch already loaded."""
    for name in [m for m in sys.modules if m.startswith("torch.") or m in TORCH_MODULES]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)


TORCH_MODULES = {"scaling.training.model", "scaling.training.runtime", "scaling.training.train"}
"""The modules that import torch at their top (the rest of scaling imports it where it is used)."""


def _invoke(tmp_path: Path, *args: str):
    spec = tmp_path / "spec.toml"
    spec.write_text(TUNE)
    return CliRunner().invoke(app, [args[0], str(spec), *args[1:], "--out", str(tmp_path / "store")])


def _written(tmp_path: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.name != "spec.toml")


def test_tune_without_torch_trains_nothing_and_writes_nothing(tmp_path, no_torch):
    result = _invoke(tmp_path, "tune", "--workers", "1")
    assert result.exit_code == 2, result.output
    assert result.output.strip() == NEEDS_TORCH
    assert _written(tmp_path) == []  # no run directory, no sweep.json, no failed records


def test_sweep_without_torch_trains_nothing_and_writes_nothing(tmp_path, no_torch):
    result = _invoke(tmp_path, "sweep", "--workers", "1")
    assert (result.exit_code, result.output.strip()) == (2, NEEDS_TORCH)
    assert _written(tmp_path) == []


def test_dry_run_without_torch_is_one_line(tmp_path, no_torch):
    # the dry run's time estimate trains short probe runs here, so it too needs torch
    result = _invoke(tmp_path, "sweep", "--dry-run")
    assert (result.exit_code, result.output.strip()) == (2, NEEDS_TORCH)
    assert _written(tmp_path) == []


@needs_torch
def test_ray_backend_without_ray_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    result = _invoke(tmp_path, "sweep", "--backend", "ray")
    assert (result.exit_code, result.output.strip()) == (2, "error: this command needs ray: pip install 'scaling-laws[ray]'")
    assert _written(tmp_path) == []


@needs_torch
def test_a_cuda_spec_without_a_gpu_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    spec = tmp_path / "spec.toml"
    spec.write_text(tiny_spec().replace('device = "cpu"', 'device = "cuda"'))
    result = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "store")])
    assert (result.exit_code, result.output.strip()) == (2, "error: sweep tiny asks for device cuda but no GPU is visible")
    assert _written(tmp_path) == []


def test_train_without_torch_is_one_line(tmp_path, no_torch):
    result = CliRunner().invoke(app, ["train", "--params", "1e4", "--tokens", "1e5", "--out", str(tmp_path / "run")])
    assert (result.exit_code, result.output.strip()) == (2, NEEDS_TORCH)
    assert _written(tmp_path) == []
