"""`scaling report`: one self-contained HTML page from fits, presets and/or a sweep.

The page holds the IsoFLOP and frontier figures (PNG, inlined as base64) with their bootstrap
bands, a table of each fit's coefficients and intervals, the presets' sources, and a planner
(planner.js, inlined) that recomputes each law's plan as the budget, GPU and law choice change.
Nothing is fetched at view time: no server, no network, no external script or style.

References: the figures' (scaling.plot.figures); the planner's (scaling.report.planner).
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaling.atomic import check_target, write_atomic
from scaling.laws.base import LawEstimate
from scaling.planning.optimal import LOSS_CAVEAT
from scaling.report.planner import PLANNER_FORMS, plannable, planner_data
from scaling.fit.result import FitResult
from scaling.laws.presets import Preset
from scaling.plot.figures import draw_figure, frontier_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from scaling.runs import RunsSource

logger = logging.getLogger(__name__)

FLOPS_RANGE = (1e17, 1e27)
"""Default budgets the planner's slider spans, FLOPs."""
FIGURE_DPI = 110
"""Resolution of the inlined PNG figures."""


def report_html(laws: Sequence[LawEstimate], *, runs: RunsSource | None = None, bootstrap: int = 200,
                flops_range: tuple[float, float] = FLOPS_RANGE, title: str = "Scaling report") -> str:
    """The report page for `laws` (presets and fits alike) and, if given, the IsoFLOP runs `runs`.

    Parameters
    ----------
    laws
        Presets (`scaling.laws.presets.get_preset`) and fits (`FitResult`) to plan with and show.
    runs
        A sweep directory, runs file or built-in data set: its IsoFLOP figure, with Approach 2's
        N_opt(C), D_opt(C) and a bootstrap band of `bootstrap` resamples.
    flops_range
        (low, high) budgets of the planner's slider, FLOPs.
    """
    if not laws and runs is None:
        raise ValueError("nothing to report: give laws (presets or fit files) and/or runs")
    if not 0 < flops_range[0] < flops_range[1]:
        raise ValueError(f"flops range must satisfy 0 < low < high, got {flops_range}")
    skipped = [e.label for e in laws if not plannable(e)]
    sections = [_planner_section(laws, skipped, flops_range), _figures_section(laws, runs, bootstrap, flops_range),
                _fits_section(laws), _presets_section(laws)]
    data = script_json(planner_data(laws, flops_range=flops_range))
    return _TEMPLATE.format(
        title=html.escape(title), style=_asset("report.css"), body="\n".join(s for s in sections if s),
        # "</" would end the <script> element early; "<\/" reads the same in JavaScript.
        data=data, script=_asset("planner.js").replace("</", "<\\/"))


def script_json(value: Any) -> str:
    """`value` as JSON safe inside a <script> element whatever its strings hold (a label or digest
    read from a fit file): <, > and & as JSON's \\u escapes, which parse to the same strings, so no
    string can close the element or open a comment."""
    text = json.dumps(value, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_report(out: str | Path, laws: Sequence[LawEstimate], **options: Any) -> Path:
    """Write `report_html(laws, **options)` to `out` (.html) atomically; returns the path."""
    path = check_target(out, argument="out", suffixes=(".html", ".htm"))
    write_atomic(path, report_html(laws, **options).encode())
    return path


# -- sections ---------------------------------------------------------------------------------


def _planner_section(laws: Sequence[LawEstimate], skipped: list[str], flops_range: tuple[float, float]) -> str:
    note = (f"<p class='note'>Not in the planner (no compute optimum in the forms it evaluates, "
            f"{', '.join(PLANNER_FORMS)}): {html.escape(', '.join(skipped))}.</p>" if skipped else "")
    return f"""<section id="planner"><h2>Planner</h2>
<div class="controls">
 <label>Budget <input type="range" id="budget-slider"></label> <output id="budget"></output>
 <span class="note">slider: <span id="flops-range"></span></span><br>
 <label>FLOPs <input id="budget-flops" size="10"></label>
 <label>or GPU-hours <input id="budget-gpu-hours" size="10"></label>
 <label>GPU <select id="gpu"></select></label>
 <label>GPUs <input id="gpus" type="number" min="1" value="1" style="width:5em"></label>
 <label>MFU <input id="mfu" type="number" min="0.01" max="1" step="0.01" style="width:5em"></label>
 <label>$ per GPU-hour <input id="price" type="number" min="0" step="0.1" value="0" style="width:5em"></label>
 <div class="note" id="hardware-note"></div>
 <div class="error" id="input-error" role="alert"></div>
</div>
<div id="law-picker"></div>
<table id="plans"><thead><tr><th>law</th><th>params</th><th class="text">convention</th><th>tokens</th>
<th>tokens/param</th><th>loss</th><th>GPU-hours</th><th>days</th><th>dollars</th></tr></thead><tbody></tbody></table>
<p class="note">Each law's compute-optimal plan at the budget, as <code>scaling plan --flops C</code> gives it.
Intervals (level shown) are percentile intervals over a fit's bootstrap draws. Kaplan's allocation reads
C = 2 C_min (training at the critical batch). GPU-hours = C / (peak x MFU) / 3600 (dense bf16 peaks);
days = GPU-hours / GPUs / 24.</p>
<p class="note" id="loss-caveat">{_caveat_html()}</p>{note}
</section>"""


def _figures_section(laws: Sequence[LawEstimate], runs: RunsSource | None, bootstrap: int,
                     flops_range: tuple[float, float]) -> str:
    presets = [e.label for e in laws if not isinstance(e, FitResult)] or None
    figures: list[tuple[str, str]] = []
    if runs is not None:
        caption = ("IsoFLOP profiles of the runs with local parabolas and minima, and Approach 2's "
                   "N_opt(C), D_opt(C) with a bootstrap band")
        try:
            figures.append((caption, _png(draw_figure("isoflop", runs, bootstrap=bootstrap, laws=presets))))  # type: ignore[arg-type]
        except ValueError as exc:  # the runs are not an IsoFLOP sweep: the rest of the page still helps
            logger.warning("no IsoFLOP figure: %s", exc)
            figures.append((f"no IsoFLOP figure: {exc}", ""))
    for fit in (e for e in laws if isinstance(e, FitResult) and plannable(e)):
        level = f"{fit.level:.0%} bootstrap band" if fit.samples else "no bootstrap draws, no band"
        figures.append((f"{fit.label}: compute-optimal N_opt(C) and D_opt(C) ({level}) against the presets",
                        _png(frontier_figure(fit, laws=presets, flops_range=flops_range))))
    if not any(isinstance(e, FitResult) for e in laws) and presets:
        figures.append(("Each law's compute-optimal model size, and its loss penalty under a loss law",
                        _png(draw_figure("allocations", ",".join(presets), flops_range=flops_range))))
    if not figures:
        return ""
    items = "\n".join(f"<figure>{_img(caption, png)}<figcaption>{html.escape(caption)}</figcaption></figure>"
                      for caption, png in figures)
    return f'<section id="figures"><h2>Figures</h2>\n{items}\n</section>'


def _fits_section(laws: Sequence[LawEstimate]) -> str:
    blocks = []
    for fit in (e for e in laws if isinstance(e, FitResult)):
        level = f"{fit.level:.0%} interval"
        rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{value:.4g}</td><td>{_span(fit.intervals.get(name))}</td></tr>"
                       for name, value in {**fit.coefficients, **fit.derived}.items())
        meta = (f"approach {html.escape(fit.approach)}, law {html.escape(fit.law)}, {fit.n_points} points, "
                f"params {html.escape(fit.params_convention)}, converged {fit.converged}, "
                f"uncertainty {html.escape(fit.uncertainty)}, data sha256 {html.escape(fit.data_digest[:12])}")
        blocks.append(f"<h3>{html.escape(fit.label)}</h3><p class='note'>{meta}</p>"
                      f"<table class='fit'><thead><tr><th>coefficient</th><th>estimate</th><th>{level}</th></tr></thead>"
                      f"<tbody>{rows}</tbody></table>")
    return f'<section id="fits"><h2>Fits</h2>\n{"".join(blocks)}\n</section>' if blocks else ""


def _presets_section(laws: Sequence[LawEstimate]) -> str:
    rows = "".join(f"<tr><td>{html.escape(p.label)}</td><td>{html.escape(p.law)}</td>"
                   f"<td>{html.escape(p.params_convention)}</td><td>{html.escape(p.budget_convention)}</td>"
                   f"<td>{html.escape(p.source)}</td><td>{html.escape(p.dataset)}</td></tr>"
                   for p in laws if isinstance(p, Preset))
    if not rows:
        return ""
    return ('<section id="presets"><h2>Published laws</h2><table><thead><tr><th>preset</th><th>form</th>'
            '<th>params</th><th>budget</th><th>source</th><th>data</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></section>")


# -- helpers ----------------------------------------------------------------------------------


def _caveat_html() -> str:
    """The planning caveat as a sentence of the page: capitalised, its `code` spans as <code>."""
    parts = html.escape(LOSS_CAVEAT).split("`")
    text = "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))
    return text[:1].upper() + text[1:] + "."


def _span(interval: Sequence[float] | None) -> str:
    return f"[{interval[0]:.4g}, {interval[1]:.4g}]" if interval else "-"


def _img(caption: str, png: str) -> str:
    return f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{png}">' if png else ""


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _asset(name: str) -> str:
    return resources.files("scaling.report").joinpath(name).read_text(encoding="utf-8")


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{style}
</style></head>
<body>
<h1>{title}</h1>
<p class="note">Made by <code>scaling report</code>: a self-contained page (no server, no network).</p>
{body}
<script type="application/json" id="planner-data">{data}</script>
<script>
{script}
</script>
</body></html>
"""
