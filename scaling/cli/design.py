"""`scaling design`: the runs to train next for the narrowest interval at a target budget.

Parse, delegate to scaling.design.study.design, render (a table, the proposal as JSON, or a
sweep spec in TOML that `scaling sweep` runs as it is).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from scaling.cli.fit import parse_pairs
from scaling.cli._app import app, budget, examples, positive_finite, seed_option
from scaling.cli.render import Output, Table, flops, quantity, show
from scaling.cli.render import Format as RenderFormat


class DesignApproach(str, Enum):
    approach_2 = "2"
    approach_3 = "3"


class Quantity(str, Enum):
    params = "params"
    loss = "loss"


class DesignFormat(str, Enum):
    table = "table"
    json = "json"
    toml = "toml"


def _width(value: float | None) -> str:
    return "not identified" if value is None else f"{value:.1%}"


@app.command("design", epilog=examples(
    "scaling design --target 1e23 --study-flops 3e18",
    "scaling design --target 1e15 --study-flops 3e13 --runs runs/cpu-isoflop",
))
def design_command(
    target: Annotated[float, typer.Option(help="The budget (FLOPs) the answer is wanted at, e.g. 1e23.",
                                          callback=budget)],
    study_flops: Annotated[float, typer.Option(help="FLOPs the next runs may spend in all.", callback=budget)],
    runs: Annotated[str | None, typer.Option(help="Runs already trained: a sweep directory, CSV/parquet or "
                                                  "built-in data set; default: none (from the prior).")] = None,
    prior: Annotated[str, typer.Option(help="Belief before any run: a chinchilla-form preset (chinchilla, "
                                            "epoch2024, ...) or an Approach 3 fit .json.")] = "chinchilla",
    prior_spread: Annotated[float, typer.Option(help="The prior's N_opt at the largest run is within x/this "
                                                     "(90%).", min=1.0)] = 3.0,
    approach: Annotated[DesignApproach, typer.Option(help="The approach whose interval is narrowed.")
                        ] = DesignApproach.approach_2,
    quantity_: Annotated[Quantity, typer.Option("--quantity", help="params (N_opt) or loss (at the optimum; "
                                                                   "approach 3).")] = Quantity.params,
    max_run_flops: Annotated[float | None, typer.Option(help="Largest single run (default study-flops / 10).",
                                                        callback=budget)] = None,
    min_run_flops: Annotated[float | None, typer.Option(help="Smallest single run (default max-run-flops / 1000).",
                                                        callback=budget)] = None,
    until_width: Annotated[float | None, typer.Option(help="Take the cheapest design predicted to reach this "
                                                           "relative width.", callback=positive_finite)] = None,
    level: Annotated[float, typer.Option(help="Interval level.", min=0.5, max=0.999)] = 0.9,
    column: Annotated[list[str] | None, typer.Option(help='Map a column of --runs: params="Model Size" (repeatable).')] = None,
    where: Annotated[list[str] | None, typer.Option(help='Keep the --runs rows where COLUMN OP VALUE holds, e.g. '
                                                     'dataset==rw (repeatable: all must hold).')] = None,
    spec: Annotated[str | None, typer.Option(help="Sweep spec whose data, shape and training settings the "
                                                  "TOML keeps (and whose shape rule sizes the runs).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the prior draws and simulations.", callback=seed_option)] = 0,
    format: Annotated[DesignFormat, typer.Option("--format", help="table, json (the proposal) or toml "
                                                                  "(a sweep spec).")] = DesignFormat.table,
) -> None:
    """Propose the runs (budgets, sizes, seeds) that narrow the interval at --target the most for
    --study-flops, given the runs already trained; print the predicted width before and after."""
    # lazy: start-up speed (each command loads only its own library)
    from scaling.design.goal import Goal
    from scaling.design.study import design, load_runs, spec_for

    goal = Goal(target=target, study_flops=study_flops, approach=approach.value, quantity=quantity_.value, level=level,
                max_run_flops=max_run_flops, min_run_flops=min_run_flops, until_width=until_width, prior=prior,
                prior_spread=prior_spread)
    if runs is None and (column or where):
        raise ValueError("--column and --where apply to --runs, which is not given")
    trained = load_runs(runs, parse_pairs(column, "--column"), tuple(where or ())) if runs is not None else None
    base = spec_for(spec, goal)
    proposal = design(goal, trained, seed=seed, shape=base.shape if spec is not None else None)
    if format is DesignFormat.toml:
        # lazy: start-up speed (each command loads only its own library)
        from scaling.design.study import proposal_toml

        typer.echo(proposal_toml(base, proposal, trained), nl=False)
        return
    show(_render(proposal), RenderFormat(format.value))


def _render(proposal: Any) -> Output:
    rows = [[flops(b.flops), str(len(b.params)), f"{quantity(min(b.params))}-{quantity(max(b.params))}",
             f"{quantity(b.flops / (6 * max(b.params)))}-{quantity(b.flops / (6 * min(b.params)))}", str(b.seeds),
             str(len(b.params) * b.seeds), flops(b.cost)] for b in proposal.blocks]
    table = Table(["budget", "sizes", "params", "tokens", "seeds", "runs", "flops"], rows, align="rrrrrrr",
                  title=f"Runs to train next: N_opt{'' if proposal.quantity == 'params' else ' loss'} at "
                        f"{proposal.target:.3g} FLOPs, Approach {proposal.approach}")
    noise = proposal.belief.get("noise", {})
    footer = [f"{sum(len(b.params) * b.seeds for b in proposal.blocks)} runs, {proposal.flops:.3g} FLOPs of "
              f"{proposal.study_flops:.3g}",
              f"{proposal.level:.0%} interval width at the target ((high - low) / estimate): "
              f"{_width(proposal.width_now)} now -> {_width(proposal.predicted_width)} predicted after these runs",
              f"belief: {proposal.belief.get('source')}; run noise {noise.get('sd', 0):.2%} of the loss at "
              f"{noise.get('reference_flops', 0):.3g} FLOPs ({noise.get('source')})",
              f"method: {proposal.method}"]
    records = [{"budget_flops": r["budget_flops"], "params": r["params"], "tokens": r["tokens"], "seeds": r["seeds"]}
               for r in proposal.runs()]
    return Output([table], notes=list(proposal.notes), records=records, document=proposal.to_document(),
                  footer=footer)
