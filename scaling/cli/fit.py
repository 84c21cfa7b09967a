"""`scaling fit DATA`: parse options, call `scaling.fit.approaches.fit_runs`, render.

scipy and pandas are imported inside the command, so `scaling plan` does not pay for them.
"""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from scaling.atomic import check_target
from scaling.cli._app import (MAX_WORKERS, Format, app, budget, examples, finite_range, positive_finite, resamples,
                              seed_option)
from scaling.cli.render import Output, quantity, show
from scaling.fit.names import CHOICES, FIT_AXES, FLOPS_CONVENTIONS, OBJECTIVES



Approach = Enum("Approach", {name if name.isidentifier() else f"approach_{name}": name for name in CHOICES}, type=str)
"""`--approach` choices: the registry's names (scaling.fit.names) and "all"."""
Axis = Enum("Axis", {name: name for name in FIT_AXES}, type=str)  # type: ignore[misc]
"""`--in` choices: the variable Approach 2's parabola is fitted in."""
Convention = Enum("Convention", {name if name.isidentifier() else "six_nd": name for name in FLOPS_CONVENTIONS},
                  type=str)  # type: ignore[misc]
"""`--flops-convention` choices."""
Objective = Enum("Objective", {name.replace("-", "_"): name for name in OBJECTIVES}, type=str)  # type: ignore[misc]
"""`--objective` choices."""


def _window(text: str) -> int | None:
    if text == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"--window takes a whole number of sizes >= 1 or 'all', got {text!r}")
    return value


def parse_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """NAME=VALUE options (`--column`, `--fix`) as a dict; ValueError naming `option`."""
    pairs = {}
    for text in values or []:
        key, sep, value = text.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{option} takes NAME=VALUE, got {text!r}")
        pairs[key.strip()] = value.strip().strip('"')
    return pairs


def _floats(pairs: dict[str, str], option: str) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in pairs.items()}
    except ValueError:
        raise ValueError(f"{option} values must be numbers, got {pairs}") from None


@app.command("fit", epilog=examples(
    "scaling fit chinchilla-2022 --approach 3 --drop-highest 5 --bootstrap 100",
    "scaling fit runs/cpu-isoflop --approach all",
))
def fit_command(
    data: Annotated[str, typer.Argument(help="Runs: a .csv/.parquet file, a sweep directory, a built-in "
                                             "data set (chinchilla-2022, porian-2024-rw-tuned, ...), "
                                             "mlflow:EXPERIMENT or wandb:DIR (W&B run folders).")],
    approach: Annotated[Approach, typer.Option(help="Chinchilla approach 1, 2, 3, Kaplan's forms, or all.")] = Approach("3"),
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of the runs (0: no intervals; for an interval "
                                                "at least 1 / (1 - level)).", callback=resamples)] = 0,
    out: Annotated[Path | None, typer.Option(help="Write the FitResult JSON here (for `scaling plan --law`).")] = None,
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    column: Annotated[list[str] | None, typer.Option(help='Map a column: params="Model Size" (repeatable).')] = None,
    where: Annotated[list[str] | None, typer.Option(help='Keep rows where COLUMN OP VALUE holds, e.g. '
                                                     'dataset==rw or "params>=1e7" (repeatable: all must hold).')] = None,
    drop_invalid: Annotated[bool, typer.Option(help="Drop rows with missing, NaN or non-positive values.")] = False,
    drop_highest: Annotated[int, typer.Option(help="Drop the n highest-loss runs (Besiroglu et al. 2024: 5).",
                                              min=0)] = 0,
    delta: Annotated[float, typer.Option(help="Huber delta on log loss (Hoffmann et al. 2022: 1e-3).",
                                         callback=positive_finite)] = 1e-3,
    objective: Annotated[Objective, typer.Option(help="What the fit minimises: Huber on log loss (Hoffmann et al. "
                                                      "2022), least squares on log loss, or on loss (Gadre et al. "
                                                      "2024, curve_fit).")] = Objective("huber-log"),
    tie_exponents: Annotated[bool, typer.Option(help="Constrain alpha = beta (approach 3).")] = False,
    fix: Annotated[list[str] | None, typer.Option(help="Hold a coefficient, e.g. E=1.69 (repeatable).")] = None,
    nonembedding: Annotated[bool, typer.Option(help="Fit params_nonembedding instead of params.")] = False,
    level: Annotated[float, typer.Option(help="Interval level, in [0.5, 0.999].",
                                         callback=finite_range(0.5, 0.999))] = 0.95,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.", callback=seed_option)] = 0,
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default: every core).",
                                             min=1, max=MAX_WORKERS)] = None,
    flops: Annotated[list[float] | None, typer.Option(help="Budgets at which to report the optimum (repeatable; "
                                                           "default: the largest run's FLOPs and 100x it).",
                                                      callback=budget)] = None,
    window: Annotated[str, typer.Option(help="Approach 2: sizes each side of a budget's lowest loss its parabola "
                                             "sees (Porian et al. 2024), or all (Hoffmann et al. 2022).")] = "2",
    fit_in: Annotated[Axis, typer.Option("--in", help="Approach 2: fit each profile's parabola in log params "
                                                      "(D derived) or log tokens (N derived).")] = Axis("params"),
    round_budgets: Annotated[bool, typer.Option(help="Approach 2: group runs by FLOPs rounded to one "
                                                     "significant figure.")] = False,
    flops_convention: Annotated[Convention, typer.Option(help="Approach 2: budgets as C = 6ND from params and "
                                                              "tokens, or the flops column as given.")] = Convention("6ND"),
    tracking_uri: Annotated[str | None, typer.Option(help="mlflow:EXPERIMENT: the MLflow tracking URI "
                                                          "(default $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).")] = None,
) -> None:
    """Fit scaling laws to runs, with bootstrap intervals; --out writes a fit for `scaling plan --law`."""
    # lazy: start-up speed (each command loads only its own library)
    from scaling.fit.approaches import write_results
    from scaling.fit.request import FitRequest, fit_request

    if out is not None:  # before fitting, which can take minutes
        check_target(out, argument="out")
    source: Any = data
    if data.startswith(("mlflow:", "wandb:")):
        from scaling.trackers import read_tracker  # optional clients, loaded only when asked

        source = read_tracker(data, tracking_uri)
    request = FitRequest(
        source=source, approach=approach.value, columns=parse_pairs(column, "--column"), where=tuple(where or ()),
        drop_invalid=drop_invalid, params_column="params_nonembedding" if nonembedding else "params",
        bootstrap=bootstrap, level=level, seed=seed, n_jobs=jobs, flops=tuple(flops or ()),
        options={"fix": _floats(parse_pairs(fix, "--fix"), "--fix"), "drop_highest": drop_highest,
                 "tie": ("alpha", "beta") if tie_exponents else (), "delta": delta, "objective": objective.value,
                 "window": _window(window),
                 "fit_in": fit_in.value, "round_budgets": round_budgets, "flops_convention": flops_convention.value})
    report = fit_request(request)
    if out is not None:
        for path in write_results(report.results, out):
            typer.echo(f"wrote {path}", err=True)
    if format is not Format.table:  # the table lists them; JSON and CSV keep their shape, so they go to stderr
        for note in [f"skipped {n}" for n in report.skipped] + report.notes:
            typer.echo(f"note: {note}", err=True)
    # JSON: the FitResult document `--out` writes and `scaling plan --law` reads (several: by key).
    show(render_fits(report.summary, report.skipped, report.documents(), report.notes), format)


def render_fits(report: dict[str, Any], skipped: list[str], documents: dict[str, Any],
                notes: Sequence[str] = ()) -> Output:
    """`summary` output as text blocks (one per approach), long-form csv records (one row per
    coefficient or optimum) and its JSON (one FitResult document, or all under their keys)."""
    blocks: list[Any] = [_render_one(key, fit) for key, fit in report.items()]
    blocks += [f"skipped approach {note}" for note in skipped]
    blocks += [f"note: {note}" for note in notes]
    document = next(iter(documents.values())) if len(documents) == 1 else documents
    return Output(blocks, records=[row for key, fit in report.items() for row in _records(key, fit)],
                  document=document)


def _records(key: str, fit: dict[str, Any]) -> list[dict[str, Any]]:
    base = {"approach": key, "law": fit["law"], "n_points": fit["n_points"], "converged": fit["converged"],
            "uncertainty": fit["uncertainty"], "level": fit["level"]}
    rows = []
    names = list(fit["coefficients"]) + [n for n in fit["derived"] if n not in fit["coefficients"]]
    for name in names:
        low, high = fit["intervals"].get(name) or (None, None)
        rows.append({**base, "quantity": name, "flops": None,
                     "estimate": fit["coefficients"].get(name, fit.get(name)), "low": low, "high": high})
    for row in fit["at_budgets"]:
        for name in ("params", "tokens", "loss"):
            if name in row:
                low, high = row.get(f"{name}_interval") or (None, None)
                rows.append({**base, "quantity": name, "flops": row["flops"], "estimate": row[name],
                             "low": low, "high": high})
    return rows


def _render_one(key: str, fit: dict[str, Any]) -> str:
    level = f"{100 * fit['level']:g}%"
    averaged = fit["options"].get("seeds_averaged")
    points = f"{fit['n_points']} configurations ({averaged}, seeds averaged)" if averaged else f"{fit['n_points']} runs"
    convention = ", params non-embedding" if fit.get("params_convention") == "non-embedding" else ""
    head = (f"{key} ({fit['law']}): {points}{convention}, converged {fit['converged']}, "
            f"uncertainty {fit['uncertainty']}")
    lines = [head, f"  {'':<10} {'estimate':>12}   {level + ' interval':<28}"]
    names = list(fit["coefficients"]) + [n for n in fit["derived"] if n not in fit["coefficients"]]
    for name in names:
        if name in _AT_ONE_FLOP.get(fit["law"], ()):
            continue
        value = fit["coefficients"].get(name, fit.get(name))
        interval = fit["intervals"].get(name)
        span = f"[{_like(value, interval[0])}, {_like(value, interval[1])}]" if interval else "-"
        lines.append(f"  {name:<10} {_num(value):>12}   {span:<28}")
    if "a" in fit["derived"] and "b" in fit["derived"]:
        lines.append(f"  {'a + b':<10} {_num(fit['a'] + fit['b']):>12}")
    if "eta" in fit["derived"]:
        lines.append("  over-training form (Gadre et al. 2024, Eq. 4): L(C, M) = E + (gadre_a M^eta + gadre_b M^-eta) "
                     "C^-eta, M = D / N")
    if fit.get("objective") is not None:
        kind = fit["options"].get("objective", "huber-log")
        what = (f"summed Huber, delta {fit['options'].get('delta')}" if kind == "huber-log"
                else "half the summed squared " + ("log residuals" if kind == "lsq-log" else "residuals of the loss"))
        lines.append(f"  objective {fit['objective']:.6g} ({what})")
    boot = (fit.get("diagnostics") or {}).get("bootstrap")
    if boot and (boot.get("degenerate") or boot.get("failed")):
        parts = [f"{boot['failed']} failed"] if boot["failed"] else []
        parts += [f"{count} degenerate ({kind})" for kind, count in boot["degenerate"].items()]
        lines.append(f"  bootstrap: {boot['used']} of {boot['resamples']} resamples used; {', '.join(parts)}")
    for reason in fit.get("not_identifiable", []):
        lines.append(f"  not identifiable: {reason}")
    if fit.get("edge_of_grid"):
        lines.append(f"  optimum outside the starting grid in: {', '.join(fit['edge_of_grid'])}")
    if fit["options"].get("dropped_runs"):
        lines.append(f"  dropped {len(fit['options']['dropped_runs'])} highest-loss runs")
    if fit.get("optima"):
        lines.append(f"  {len(fit['optima'])} optima: {fit['message']}")
    if fit["law"] == "power_allocation" and "method" in fit["options"]:
        lines.append(f"  method: {fit['options']['method']}, C = {fit.get('flops_convention', '6ND')}")
    for row in fit["at_budgets"]:
        parts = [f"C {row['flops']:.3g}:"]
        for name in ("params", "tokens", "loss"):
            if name in row:
                interval = row.get(f"{name}_interval")
                if name == "loss":  # a loss and its interval to the same decimals: 2.130 [2.119, 2.143]
                    text, low, high = (_like(row[name], v, fixed=True) for v in (row[name], *(interval or (0, 0))))
                else:
                    text, low, high = (quantity(v) for v in (row[name], *(interval or (0, 0))))
                parts.append(f"{name} {text}" + (f" [{low}, {high}]" if interval else ""))
        lines.append("  " + "  ".join(parts))
    return "\n".join(line.rstrip() for line in lines)


_AT_ONE_FLOP = {"power_allocation": ("k", "k_tokens")}
"""Intercepts that are N_opt, D_opt at C = 1 FLOP: left out of the table (the budgets' rows
carry them where they mean something); JSON and CSV keep them."""


def _like(value: float, other: float, *, fixed: bool = False) -> str:
    """`other` (an interval's end) to the decimals `value` prints with (_num): 477.8 [295.3,
    723.0], not [295.3, 723]. Values printed in exponent form keep it; `fixed` prints `value`
    itself to four significant figures with its trailing zeros (2.130, not 2.13)."""
    if not (math.isfinite(value) and math.isfinite(other)) or value == 0 or "e" in _num(value):
        return _num(other)
    decimals = max(0, 3 - math.floor(math.log10(abs(value))))
    return f"{other:.{decimals}f}" if fixed or "." in _num(value) or decimals == 0 else _num(other)


def _num(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
