"""The design loop through the real sweep runner with a synthetic trainer: [design] specs, round
specs and their TOML, stopping on the width goal or the FLOPs, resuming an interrupted round."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from design_world import synthetic_train
from scaling.design.designer import Block, Proposal
from scaling.design.study import finished_runs, next_spec, round_spec, run_spec, run_study, spent_flops
from scaling.rundir.events import read_events
from scaling.rundir.meta import read_sweep_meta
from scaling.sweep.scheduler import run_sweep
from scaling.sweep.spec import plan_runs
from scaling.sweep.specfile import load_spec, parse_spec, spec_toml

SPEC = """
name = "designed"
data = "synthetic:markov:seed=0,vocab=16"
device = "cpu"
[train]
min_steps = 10
batch_size = 8
[design]
target = 1e19
study_flops = 2e16
max_run_flops = 1e15
min_run_flops = 1e13
round_fraction = 0.5
max_rounds = 2
"""


def spec(**design):
    doc = tomllib.loads(SPEC)
    doc["design"].update(design)
    return parse_spec(doc)


def train(out: Path):
    return lambda round_spec: run_sweep(round_spec, out, workers=1, train_fn=synthetic_train)


def test_design_spec_parses_and_refuses_a_grid_beside_it():
    assert spec().tables["design"].study_flops == 2e16 and spec().grid is None
    doc = tomllib.loads(SPEC)
    doc["isoflop"] = {"budgets": [1e8], "sizes": {"d_model": [8]}}
    with pytest.raises(ValueError, match="leave out"):
        parse_spec(doc)
    with pytest.raises(ValueError, match=r"\[design\]: approach"):
        spec(approach="7")
    with pytest.raises(ValueError, match="designed study"):
        plan_runs(spec())


def test_a_plain_spec_runs_as_one_sweep_and_takes_no_width_goal(tmp_path):
    doc = tomllib.loads(SPEC)
    del doc["design"]
    doc["shape"] = {"n_layer": 1}
    doc["isoflop"] = {"budgets": [1e9], "sizes": {"d_model": [8, 16]}}
    plain = parse_spec(doc)
    assert next_spec(plain, tmp_path) is plain
    with pytest.raises(ValueError, match="`until_width` needs a designed study"):
        run_spec(plain, tmp_path, train_round=train(tmp_path), until_width=0.1)
    progress, state = run_spec(plain, tmp_path, train_round=train(tmp_path))
    assert state is None and progress.ok == len(plan_runs(plain))


def test_round_spec_gives_repeated_sizes_new_seeds_and_writes_toml_that_loads(tmp_path):
    base = spec()
    block = Block(flops=1e15, params=(3e6, 1e7, 3e7), seeds=2)
    proposal = Proposal(target=1e19, approach="2", quantity="params", level=0.9, blocks=(block,), flops=block.cost,
                        study_flops=1e16, width_now=None, predicted_width=0.5, method="test")
    first = round_spec(base, proposal, None)
    run_sweep(first, tmp_path, workers=1, train_fn=synthetic_train)
    again = round_spec(base, proposal, finished_runs(tmp_path / "designed"))
    seeds = {s for _, _, seeds in again.grid.per_budget for s in seeds}
    assert seeds == {2, 3}  # seeds 0 and 1 of these sizes are trained
    path = tmp_path / "round.toml"
    path.write_text(spec_toml(again, "a header"))
    assert [(r.model, r.tokens, r.seed) for r in plan_runs(load_spec(path))] == \
           [(r.model, r.tokens, r.seed) for r in plan_runs(again)]


def test_loop_stops_on_its_width_goal_and_records_each_round(tmp_path):
    first_round = next_spec(spec(until_width=10.0), tmp_path)  # what --dry-run lists
    assert not isinstance(first_round, str)
    progress, state = run_spec(spec(until_width=10.0), tmp_path, train_round=train(tmp_path))
    assert state is not None and "reached" in state.stopped and len(state.rounds) == 1
    assert progress.total == len(plan_runs(first_round)) == progress.ok + progress.diverged + progress.failed
    events = [e["event"] for e in read_events(tmp_path / "designed") if e["event"].startswith("design")]
    assert events == ["design_round", "design_fit", "design_stop"]
    assert state.rounds[0]["width"] <= 10.0 and state.rounds[0]["predicted_width"] is not None


@pytest.mark.slow
def test_loop_spends_at_most_the_study_flops(tmp_path):
    state = run_study(spec(), tmp_path, train_round=train(tmp_path))
    assert len(state.rounds) == 2 and state.stopped == "2 rounds done"
    assert spent_flops(tmp_path / "designed") <= 2e16
    planned = sum(r["flops"] for r in read_sweep_meta(tmp_path / "designed")["runs"])
    assert planned <= 2e16 * 1.05  # shapes round the sizes a little


class Killed(Exception):
    pass


@pytest.mark.slow  # two rounds' worth of sweeps (12 s loaded); the loop's fast test: the width goal above
def test_an_interrupted_round_is_trained_again_as_planned(tmp_path):
    """Killed after its runs finished but before its fit: the same command trains the same
    round (nothing new: its finished runs are not given fresh seeds) and fits it."""
    sweep_dir = tmp_path / "designed"

    def train_then_die(round_spec):
        train(tmp_path)(round_spec)
        raise Killed

    with pytest.raises(Killed):
        run_study(spec(max_rounds=1), tmp_path, train_round=train_then_die)
    trained = finished_runs(sweep_dir)
    state = run_study(spec(max_rounds=1), tmp_path, train_round=train(tmp_path))
    rounds = [e for e in read_events(sweep_dir) if e["event"] == "design_round"]
    assert len(rounds) == 1 and state.stopped == "1 rounds done" and state.rounds[0]["width"] is not None
    assert sorted(finished_runs(sweep_dir)["run_id"]) == sorted(trained["run_id"])
    assert len(read_sweep_meta(sweep_dir)["runs"]) == len(trained)


KILL_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
import tomllib
from design_world import synthetic_train
from scaling.design.study import run_study
from scaling.sweep.scheduler import run_sweep
from scaling.sweep.specfile import parse_spec

if __name__ == "__main__":
    doc = tomllib.loads({spec!r})
    doc["design"]["max_rounds"] = 3
    out = Path(sys.argv[1])
    run_study(parse_spec(doc), out, train_round=lambda s: run_sweep(s, out, workers=2, train_fn=synthetic_train))
"""


@pytest.mark.slow
def test_kill_9_mid_study_then_the_same_command_finishes_it(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "study.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parents[1]), spec=SPEC))
    sweep_dir = tmp_path / "store" / "designed"
    env = {**os.environ, "DESIGN_WORLD_RUN_S": "0.3"}
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path / "store")], env=env,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill once round 2 is under way
        events = read_events(sweep_dir) if sweep_dir.exists() else []
        if sum(e["event"] == "design_round" for e in events) >= 2 and events[-1]["event"] == "finish":
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    subprocess.run([sys.executable, str(script), str(tmp_path / "store")], env=env, check=True, timeout=300)
    events = read_events(sweep_dir)
    rounds = [e["round"] for e in events if e["event"] == "design_round"]
    assert rounds == [1, 2, 3] or rounds == [1, 2]  # round 2 resumed, never designed twice
    assert [e["round"] for e in events if e["event"] == "design_fit"] == rounds
    runs = finished_runs(sweep_dir)
    assert not runs.duplicated(["budget_flops", "d_model", "n_layer", "seed"]).any()
    planned = {r["run_id"] for r in read_sweep_meta(sweep_dir)["runs"]}
    assert set(runs["run_id"]) == planned  # every planned run finished; none planned twice
