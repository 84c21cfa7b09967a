"""WSD sweeps: families of cooldown branches from one stable run, their scheduling, the trainer's
branch start, and what the runs table and the fits make of them."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scaling.atomic import write_atomic, write_json
from scaling.config import TrainConfig
from scaling.rundir.events import read_events
from scaling.rundir.protocol import branch_state_path, branch_states
from scaling.rundir.record import read_record_json
from scaling.sweep.branches import Cooldowns, cooldown_start, parse_wsd, trained_tokens
from scaling.sweep.dryrun import dry_run
from scaling.sweep.grids import IsoFlopGrid, NxDGrid, ShapeRule, Sizes
from scaling.sweep.scheduler import schedule, sweep_tasks
from scaling.sweep.spec import SweepConfig, expand
from scaling.sweep.specfile import parse_spec
from scaling.training.hyperparams import count_steps, run_id, schedule_of
from test_backends import InlineBackend, local_ray  # noqa: F401 (a fixture)


def wsd_spec(name="w", seeds=(0,), tokens=(4000, 6400, 8000), widths=(8, 16), **train):
    return SweepConfig(name=name, seeds=tuple(seeds), device="cpu",
                       train={"batch_size": 4, "warmup_steps": 5, "eval_points": 3, "log_every": 5, **train},
                       shape=ShapeRule(n_layer=1, seq_len=16), wsd=Cooldowns(),
                       grid=NxDGrid(sizes=Sizes(widths=tuple(widths)), tokens=tuple(tokens)))


# ---- families ------------------------------------------------------------------------------------

def test_each_size_is_one_stable_run_kept_at_every_branchs_cooldown_start():
    configs = expand(wsd_spec())
    assert len(configs) == 2 * (1 + 3)
    stable, *branches = configs[:4]
    assert stable.schedule == "constant" and stable.branch_from is None
    starts = [cooldown_start(b) for b in branches]
    assert stable.save_at == tuple(starts) and count_steps(stable) == max(starts)
    for b, tokens in zip(branches, (4000, 6400, 8000)):
        steps = count_steps(b)
        assert b.tokens == tokens and b.branch_from == f"{run_id(stable)}@{cooldown_start(b)}"
        assert b.schedule == "wsd:cooldown_fraction=0.2,cooldown_shape=1-sqrt"
        assert cooldown_start(b) == steps - round(0.2 * steps)  # the cooldown is the branch's final 20%
        # the path up to the branch step is the stable run's: same LR at every step before it
        before = np.arange(cooldown_start(b))
        assert np.array_equal(schedule_of(b, steps).lr_at(before), schedule_of(stable, count_steps(stable)).lr_at(before))
        for name in ("lr", "batch_size", "warmup_steps", "log_every", "seed", "model"):
            assert getattr(b, name) == getattr(stable, name)
        assert trained_tokens(b) == (steps - cooldown_start(b)) * 4 * 16


def test_a_wsd_spec_reads_from_toml_and_refuses_what_contradicts_it():
    doc = {"name": "w", "grid": {"sizes": {"d_model": [8]}, "tokens": [4000, 8000]}, "shape": {"n_layer": 1, "seq_len": 16},
           "wsd": {"cooldown_fraction": 0.1, "cooldown_shape": "linear"}, "train": {"batch_size": 4}}
    spec = parse_spec(doc)
    assert spec.wsd == Cooldowns(cooldown_fraction=0.1, cooldown_shape="linear")
    assert expand(spec)[1].schedule == "wsd:cooldown_fraction=0.1,cooldown_shape=linear"
    bad = [({"cooldown_fraction": 1.5}, "wsd.cooldown_fraction"), ({"cooldown_shape": "cosine"}, "wsd.cooldown_shape"),
           ({"cooldowns": [1]}, "unknown keys in [wsd]"), ({"keep_states": "yes"}, "wsd.keep_states"),
           ({"cooldown_fraction": True}, "wsd.cooldown_fraction"), ({"min_lr_ratio": 1.0}, "wsd.min_lr_ratio")]
    for table, message in bad:
        with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_wsd(table)
    zero = parse_spec({**doc, "wsd": {"min_lr_ratio": 0}})  # Hagele et al. 2024 cool down to 0
    assert expand(zero)[1].schedule == "wsd:cooldown_fraction=0.2,cooldown_shape=1-sqrt,min_lr_ratio=0"
    assert expand(zero)[0] == expand(parse_spec({**doc, "wsd": {}}))[0]  # the same stable run
    with pytest.raises(ValueError, match=r"\[train\] may not set save_at"):
        parse_spec({**doc, "train": {"save_at": [10]}})
    with pytest.raises(ValueError, match="leave schedule out of"):
        parse_spec({**doc, "train": {"schedule": "cosine"}})


def test_a_branch_too_short_to_cool_down_is_refused_by_name():
    with pytest.raises(ValueError, match="too few to branch"):
        expand(wsd_spec(tokens=(64, 8000)))


def test_the_dry_run_counts_stable_and_cooldown_flops_against_the_grid(tmp_path):
    estimate = dry_run(wsd_spec(), tmp_path, workers=1, measure=False)
    b = estimate.branching
    roles = [r["role"] for r in estimate.runs]
    assert roles.count("stable") == 2 and roles.count("branch") == 6
    stable = sum(r["flops"] for r in estimate.runs if r["role"] == "stable")
    cooldown = sum(r["trained_flops"] for r in estimate.runs if r["role"] == "branch")
    grid = sum(r["flops"] for r in estimate.runs if r["role"] == "branch")
    assert b == {"stable_flops": stable, "cooldown_flops": cooldown, "total_flops": stable + cooldown,
                 "grid_flops": grid, "ratio": (stable + cooldown) / grid}
    # 0.8 x the longest + 0.2 x each branch, over the sum of the branches: (0.8 * 8 + 0.2 * 18.4) / 18.4
    assert b["ratio"] == pytest.approx((0.8 * 8000 + 0.2 * 18400) / 18400, rel=0.02)
    assert json.loads(estimate.to_json())["branching"]["ratio"] == b["ratio"]


# ---- scheduling (a fake trainer: no torch) --------------------------------------------------------

def fake_branching_train(cfg, run_dir):
    """Keeps an empty state file at each save_at step; a branch fails unless its parent's is there."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", {"run_id": run_dir.name, "config": cfg.to_dict()})
    if cfg.branch_from is not None:
        parent, _, step = cfg.branch_from.partition("@")
        assert branch_state_path(run_dir.parent / parent, int(step)).exists(), "started before its parent's state"
    if cfg.seed == 1 and cfg.save_at:
        raise RuntimeError("the stable run fails")
    for step in cfg.save_at:
        write_atomic(branch_state_path(run_dir, step), b"state")
    record = {"run_id": run_dir.name, "status": "ok", "loss": 1.0, "config": cfg.to_dict()}
    write_json(run_dir / "record.json", record)
    return record


def test_a_branch_starts_only_once_its_parent_kept_its_state(tmp_path):
    tasks, _ = sweep_tasks(wsd_spec(), tmp_path / "w")
    (tmp_path / "w").mkdir()
    tasks = tasks[1:4] + tasks[:1] + tasks[4:]  # the branches of the first family come before their parent
    state = schedule(tasks, InlineBackend(fake_branching_train, slots=1))
    assert (state.ok, state.failed) == (8, 0)
    order = [e["run_id"] for e in read_events(tmp_path / "w") if e["event"] == "start"]
    assert order.index(tasks[3].run_id) < min(order.index(t.run_id) for t in tasks[:3])


def test_branches_of_a_failed_stable_run_fail_by_name_and_the_rest_finishes(tmp_path):
    tasks, _ = sweep_tasks(wsd_spec(seeds=(0, 1), widths=(8,)), tmp_path / "w")
    (tmp_path / "w").mkdir()
    state = schedule(tasks, InlineBackend(fake_branching_train), retries=1)
    assert (state.ok, state.failed) == (4, 4)  # seed 1: its stable run (tried twice) and its 3 branches
    orphans = [t for t in tasks if t.config.seed == 1 and t.after is not None]
    for task in orphans:
        record = read_record_json(task.run_dir)
        assert record["status"] == "failed" and task.after[0] in record["error"] and "ended without" in record["error"]


# ---- the trainer ----------------------------------------------------------------------------------

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def branched_sweep(tmp_path_factory):
    from scaling.sweep.scheduler import run_sweep

    out = tmp_path_factory.mktemp("wsd")
    spec = wsd_spec(widths=(8,))
    state = run_sweep(spec, out, workers=1)
    assert (state.ok, state.failed) == (4, 0)
    return spec, out / spec.name


def test_a_branch_ends_exactly_where_a_wsd_run_from_scratch_ends(branched_sweep, tmp_path):
    from scaling.training.train import train

    spec, sweep_dir = branched_sweep
    longest = expand(spec)[-1]
    branch = read_record_json(sweep_dir / run_id(longest))
    threads = read_record_json(sweep_dir / run_id(longest))["extra"]["threads"]
    straight = train(replace(longest, branch_from=None, threads=threads), tmp_path / "straight")
    assert branch["loss"] == straight.loss  # bit for bit: the same path, then the same cooldown
    assert branch["tokens"] == straight.tokens and branch["flops"] == straight.flops  # a fit point's whole path


def test_a_branch_records_its_parent_and_its_curve_is_whole(branched_sweep):
    from scaling.rundir.curve import read_curve

    spec, sweep_dir = branched_sweep
    stable, *branches = expand(spec)
    parent_curve = read_curve(sweep_dir / run_id(stable)).to_pandas()
    for b in branches:
        record = read_record_json(sweep_dir / run_id(b))
        step = cooldown_start(b)
        assert record["extra"]["parent_run_id"] == run_id(stable) and record["extra"]["branch_step"] == step
        assert record["config"]["branch_from"] == f"{run_id(stable)}@{step}"
        curve = read_curve(sweep_dir / run_id(b)).to_pandas()
        assert set(curve["run_id"]) == {run_id(b)}
        before = curve[curve["step"] <= step].drop(columns="run_id").reset_index(drop=True)
        inherited = parent_curve[parent_curve["step"] <= step].drop(columns="run_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(before, inherited)
        # the parent measured the held-out loss at the branch point; the branch cools down after it
        assert ((parent_curve["step"] == step) & (parent_curve["split"] == "val")).any()
        assert curve["step"].max() == count_steps(b) and curve["lr"].iloc[-1] < curve["lr"].iloc[0]


def test_kept_states_are_removed_once_every_branch_finished(branched_sweep):
    spec, sweep_dir = branched_sweep
    stable = expand(spec)[0]
    assert branch_states(sweep_dir / run_id(stable)) == {}
    assert not list(sweep_dir.rglob("checkpoint.pt"))


def test_the_runs_table_leaves_stable_runs_out_and_names_families(branched_sweep):
    from scaling.runs import read_runs

    spec, sweep_dir = branched_sweep
    stable, *branches = expand(spec)
    runs = read_runs(sweep_dir)
    assert sorted(runs["run_id"]) == sorted(run_id(b) for b in branches)
    assert set(runs["family"]) == {run_id(stable)} and set(runs["role"]) == {"branch"}
    assert set(runs["schedule"]) == {"wsd:cooldown_fraction=0.2,cooldown_shape=1-sqrt"}


@pytest.mark.slow  # trains a stable run (1 s); fast: test_a_branch_ends_exactly_where_a_wsd_run_from_scratch_ends
def test_a_branch_refuses_a_missing_or_different_parent(tmp_path):
    from scaling.training.train import train

    stable, *branches = expand(wsd_spec(widths=(8,)))
    with pytest.raises(ValueError, match=r"branch-\d+\.pt is not there"):
        train(branches[0], tmp_path / "w" / run_id(branches[0]))
    train(stable, tmp_path / "w" / run_id(stable))
    other = replace(branches[0], seed=1, branch_from=branches[0].branch_from)
    with pytest.raises(ValueError, match="their seed differ"):
        train(other, tmp_path / "w" / run_id(other))
    early = replace(branches[-1], schedule="wsd:cooldown_fraction=0.5,cooldown_shape=1-sqrt")
    with pytest.raises(ValueError, match="learning rates differ from step"):
        train(early, tmp_path / "w" / run_id(early))


@pytest.mark.slow  # trains the stable run twice; kept states in the fast run: test_kept_states_are_removed_once_every_branch_finished
def test_a_stable_run_resumes_from_a_kept_state_newer_than_its_checkpoint(tmp_path):
    """Killed after keeping a branch state but before its next checkpoint: it resumes there."""
    from scaling.training.train import train

    stable = expand(wsd_spec(widths=(8,)))[0]
    full = train(stable, tmp_path / "full")
    kept = branch_states(tmp_path / "full")
    run_dir = tmp_path / "resumed"
    run_dir.mkdir()
    first = min(kept)
    (run_dir / "config.json").write_bytes((tmp_path / "full" / "config.json").read_bytes())
    (run_dir / kept[first].name).write_bytes(kept[first].read_bytes())
    curve = pd.read_parquet(tmp_path / "full" / "curve.parquet")
    write_atomic(run_dir / "curve.parquet", (tmp_path / "full" / "curve.parquet").read_bytes())
    resumed = train(stable, run_dir)
    assert resumed.loss == full.loss
    assert read_record_json(run_dir)["steps"] == count_steps(stable) and len(curve) > 0


@pytest.mark.slow  # starting a Ray cluster takes seconds; the local backend is the default run's
def test_branches_wait_for_their_parent_on_the_ray_backend(tmp_path, local_ray):
    from scaling.sweep.scheduler import run_sweep

    spec = wsd_spec(widths=(8, 16))
    state = run_sweep(spec, tmp_path, backend="ray", train_fn=fake_branching_train)
    assert (state.ok, state.failed) == (8, 0)  # a branch started early would have failed its assert
    assert not list((tmp_path / "w").rglob("branch-*.pt"))  # every branch finished: kept states removed


@pytest.mark.slow  # draws the figure (1.4 s); fast figure checks: tests/plot and tests/cli/test_cli_plot.py
def test_the_branch_figure_fans_each_branch_off_its_stable_run(branched_sweep, tmp_path):
    from scaling.plot.figures import draw_figure

    spec, sweep_dir = branched_sweep
    figure = draw_figure("branches", str(sweep_dir), runs=str(sweep_dir))  # itself as the comparison
    curves, final = figure.axes[:2]
    solid = [line for line in curves.lines if line.get_linestyle() == "-" and len(line.get_xdata()) > 1]
    assert len(solid) == 4  # the stable run and its three branches
    stem = max(solid, key=lambda line: len(line.get_xdata()))
    for branch in solid:
        if branch is not stem:  # each branch starts on its stem's path, at or before its branch point
            assert branch.get_xdata()[0] in set(stem.get_xdata())
    assert [round(x) for x in final.lines[0].get_xdata()] == sorted(count_steps(b) * 4 * 16 for b in expand(spec)[1:])
    with pytest.raises(ValueError, match="no such sweep directory"):
        draw_figure("branches", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="no cooldown branches"):
        draw_figure("branches", str(Path(__file__).parents[2] / "runs" / "cpu-isoflop"))


def test_a_family_bootstrap_over_too_few_families_says_so():
    from scaling.fit.engine import fit_law
    from scaling.fit.result import FitWarning

    rng = np.random.default_rng(0)
    params = np.repeat([1e5, 3e5, 1e6], 4)
    tokens = np.tile([1e6, 2e6, 4e6, 8e6], 3)
    loss = (1.7 + 400 / params**0.34 + 400 / tokens**0.28) * np.exp(rng.normal(0, 0.002, params.size))
    runs = pd.DataFrame({"params": params, "tokens": tokens, "loss": loss, "family": params.astype(str)})
    with pytest.warns(FitWarning, match="resamples 3 families"):
        result = fit_law("chinchilla", runs, bootstrap=4)
    assert result.options["bootstrap_unit"] == "family" and result.options["families"] == 3
