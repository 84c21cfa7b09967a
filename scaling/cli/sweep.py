"""`scaling sweep` (run or dry-run a sweep spec) and `scaling runs` (a sweep's status table).

Parse, delegate to scaling.sweep.backends / scaling.sweep.store, render. torch and ray load only inside
the library calls that need them.
"""

from __future__ import annotations

import textwrap
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scaling.cli._app import MAX_RETRIES, MAX_WORKERS, Format, app, command_line, examples, positive_finite
from scaling.cli.progress import ProgressView, sweep_status
from scaling.cli.render import Output, Table, duration, flops, quantity, show
from scaling.cli.tracking import TrackerOption, TrackingUri, open_tracker
from scaling.sweep.specfile import bundled_specs

if TYPE_CHECKING:
    from scaling.sweep.backends import SweepProgress
    from scaling.sweep.dryrun import DryRun
    from scaling.sweep.spec import SweepConfig


class Backend(str, Enum):
    local = "local"
    ray = "ray"


@app.command("sweep", epilog=examples(
    "scaling sweep cpu-smoke --dry-run",
    "scaling sweep cpu-smoke --out scratch-runs",
))
def sweep_command(
    spec: Annotated[str, typer.Argument(help=unbroken(f"Sweep spec: a TOML file, or a bundled name "
                                                      f"({', '.join(bundled_specs())})."))],
    backend: Annotated[Backend, typer.Option(help="local: worker processes here; ray: Ray tasks.")] = Backend.local,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (--backend ray); default: "
                                                     "start a local Ray.")] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes; default: as many runs per GPU as "
                                                     "fit its memory, else one per free CPU core.",
                                                min=1, max=MAX_WORKERS)] = None,
    micro_batch_size: Annotated[int | None, typer.Option(help="Sequences per forward pass (each batch is rounded "
                                                              "to whole micro batches); default: the largest that "
                                                              "fits the device's memory.", min=1)] = None,
    gpu: Annotated[str | None, typer.Option(help="With --dry-run: place and size the runs for this card, e.g. "
                                                 "h100, h200:8, a100-pcie, l40s, b200 (KEY or KEY:COUNT).")] = None,
    retries: Annotated[int, typer.Option(min=0, max=MAX_RETRIES, help="Extra attempts for a failing run.")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the runs with FLOPs and estimated "
                                                            "time; train nothing.")] = False,
    out: Annotated[Path, typer.Option(help="Run store root; runs go to OUT/<sweep name>/.")] = Path("runs"),
    tracker: TrackerOption = None,
    tracking_uri: TrackingUri = None,
    format: Annotated[Format, typer.Option("--format", help="Output format of --dry-run and the summary.")] = Format.table,
    until_width: Annotated[float | None, typer.Option(callback=positive_finite, help="A designed study: stop when the "
                                                      "interval at the target is narrower than this, relative "
                                                      "(overrides the spec's until_width).")] = None,
) -> None:
    """Train every run of a sweep spec: finished runs are skipped, interrupted ones resume. A
    designed study (a spec with a design table) runs round by round: design, train, refit, until
    its width goal or its FLOPs."""
    # lazy: start-up speed (each command loads only its own library)
    from scaling.sweep.scheduler import check_can_train
    from scaling.design.study import next_spec, run_spec
    from scaling.sweep.dryrun import dry_run as plan_dry_run
    from scaling.sweep.scheduler import run_sweep
    from scaling.sweep.placement import named_gpus
    from scaling.sweep.spec import with_micro_batch
    from scaling.sweep.specfile import load_spec
    from scaling.sweep.status import sweep_result

    if address is not None and backend is not Backend.ray:
        raise ValueError("--address needs --backend ray")
    sweep = load_spec(spec)
    if gpu is not None and not dry_run:
        raise ValueError("--gpu names a card for --dry-run only; a sweep trains on the GPUs it finds")
    if micro_batch_size is not None:
        sweep = with_micro_batch(sweep, micro_batch_size)
    if not dry_run:  # torch, ray, a GPU: refused in one line before any round is designed or run trained
        check_can_train(sweep, backend.value)
    if dry_run:
        step = next_spec(sweep, out)
        if isinstance(step, str):  # a finished study: nothing to list, and nothing wrong
            typer.echo(f"{sweep.name}: the designed study is over ({step}); no round left to train "
                       f"(scaling runs {out / sweep.name} lists its runs and rounds)")
            return
        named = named_gpus(gpu) if gpu is not None else None
        show(_render_dry_run(plan_dry_run(step, out, workers=workers, gpus=named)), format)
        return
    with open_tracker(tracker, tracking_uri, sweep.name) as sink, ProgressView(sweep.name, 0, unit="runs") as view:
        def train(round_spec: SweepConfig) -> SweepProgress:
            return run_sweep(round_spec, out, backend=backend.value, workers=workers, address=address,
                             retries=retries, progress=lambda s: view.update(s.done, sweep_status(s), total=s.total),
                             command=command_line(), on_run_end=sink)

        state, study = run_spec(sweep, out, train_round=train, until_width=until_width, on_round=_report_round)
    if study is not None:
        typer.echo(f"{sweep.name}: {len(study.rounds)} rounds; stopped: {study.stopped}", err=True)
    result = sweep_result(out / sweep.name, state)
    show(Output([f"{result.sweep_dir}: {result.ok} ok, {result.diverged} diverged, {result.failed} failed, "
                 f"{result.already_done} already done; summary in {result.summary}"],
                records=[result.to_document()], document=result.to_json()), format)
    if result.failed:
        raise typer.Exit(1)


@app.command("runs", epilog=examples("scaling runs runs/cpu-isoflop"))
def runs_command(
    sweep_dir: Annotated[Path, typer.Argument(help="A sweep directory, e.g. runs/cpu-smoke.")],
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Status of every run of a sweep: pending, running, killed, ok, diverged, failed."""
    # lazy: start-up speed (each command loads only its own library)
    from scaling.rundir.summary import STATUS_COLUMNS, SUMMARY_COLUMNS
    from scaling.sweep.status import runs_status

    status = runs_status(sweep_dir)
    if not status.runs and format is Format.table:
        typer.echo(f"{sweep_dir}: no runs (no run directories and no sweep.json)")
        return
    cells = {"budget_flops": flops, "n_layer": _int, "d_model": _int, "params": quantity, "tokens": quantity,
             "seed": _int, "loss": lambda v: "-" if v is None else f"{v:.4g}",
             "wall_s": lambda v: "-" if v is None else f"{v:.3g}", "device": lambda v: v or "-"}
    rows = [[cells.get(c, str)(r[c]) for c in STATUS_COLUMNS] for r in status.runs]
    headers = [{"budget_flops": "budget"}.get(c, c) for c in STATUS_COLUMNS]
    align = "".join("l" if SUMMARY_COLUMNS[c] == "string" else "r" for c in STATUS_COLUMNS)
    tables = [Table(headers, rows, align=align)]
    if status.design_rounds:  # a designed study: what each round proposed, and the width it predicted and achieved
        tables.append(Table(["round", "flops", "budgets", "predicted width", "N_opt at target", "interval",
                             "achieved width"],
                            [[str(r["round"]), flops(r["flops"]), ", ".join(flops(b) for b in r["budgets"]),
                              _percent(r["predicted_width"]), quantity(r["estimate"]),
                              "-" if r["interval"] is None else f"[{quantity(r['interval'][0])}, {quantity(r['interval'][1])}]",
                              _percent(r["width"])] for r in status.design_rounds], title="Design rounds",
                            align="rrlrrrr"))
    show(Output(tables, records=status.runs,
                footer=[f"{len(status.runs)} runs: " + ", ".join(f"{n} {name}" for name, n in status.counts)],
                document=status.to_json()), format)


def _report_round(record: dict[str, Any]) -> None:
    """A designed study's round, printed as its fit ends."""
    achieved = "not identified" if record.get("width") is None else f"{record['width']:.1%}"
    predicted = "not identified" if record.get("predicted_width") is None else f"{record['predicted_width']:.1%}"
    typer.echo(f"round {record['round']}: {record['flops']:.3g} FLOPs; interval width at the target: predicted "
               f"{predicted}, achieved {achieved}", err=True)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def unbroken(text: str, width: int = 52) -> str:
    """Help text wrapped here, never inside a hyphenated name (click's own wrapping breaks
    `gpu-small` after its hyphen), and marked (click's \\b) so click keeps these lines."""
    import textwrap

    return "\b\n" + "\n".join(textwrap.wrap(text, width, break_on_hyphens=False))


def _int(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}"


def _render_dry_run(estimate: DryRun) -> Output:
    rows = estimate.runs
    table = [[r["run_id"], flops(r["budget_flops"]) if r["budget_flops"] else "-", str(r["n_layer"]),
              str(r["d_model"]), quantity(r["params"]), quantity(r["tokens"]), flops(r["flops"]), f"{r['lr']:.3g}",
              str(r["batch_size"]), f"{r['micro_batch_size']} x {r['accumulation_steps']}",
              f"{r['memory'] / 2**30:.3g} GiB", r["status"], duration(r["est_s"]),
              f"{r['lr_source']}; {r['batch_source']}"]
             for r in rows]
    total = (f"~{duration(estimate.wall_s)} on {estimate.workers} workers" if estimate.wall_s is not None
             else "not measured here")
    trained = sum(r.get("trained_flops", r["flops"]) for r in rows)
    footer = [f"{len(rows)} runs ({estimate.to_train} to train), {trained:.3g} FLOPs; "
              f"estimated wall time {total} ({estimate.basis})", f"placement: {estimate.placement}"]
    if estimate.branching is not None:
        b = estimate.branching
        footer.insert(1, f"WSD branches: stable runs {b['stable_flops']:.3g} + cooldowns {b['cooldown_flops']:.3g} "
                         f"= {b['total_flops']:.3g} FLOPs, {b['ratio']:.2f} x the {b['grid_flops']:.3g} FLOPs of "
                         "training each branch's point as its own run")
        for row, r in zip(table, rows):  # the run's place in its family
            row[1] = {"stable": "stable", "branch": f"{row[1]} <- {r.get('parent_run_id', '')[:6]}@{r.get('branch_step')}"}\
                .get(r.get("role", ""), row[1])
    headers = ["run_id", "budget", "L", "d_model", "params", "tokens", "flops", "lr", "batch", "micro x accum",
               "memory", "status", "est", "lr from; batch from"]
    return Output([Table(headers, table, align="lrrrrrrrrrrrrl")], records=rows, footer=footer,
                  document=estimate.to_json())
