"""Results as tables for notebooks: `to_frame()` (a pandas DataFrame) and `_repr_html_` (Jupyter's
rich display), both read from the result's `to_dict()`, for every result class at once.

A class picks its rows with `_frame_rows`: the key of a list in `to_dict()` (one dict per row),
a function of the `to_dict()` document, or "" for one row. Nested dicts become dotted columns
(`shape.n_layer`); `[low, high]` intervals become `*_low` and `*_high` columns; the interval
level, where a result has one, is a column and the HTML caption says it ("95% intervals").
pandas loads on first use only, so planning stays light.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pandas as pd

LEVEL_KEYS = ("interval_level", "level")
"""Keys under which results state their intervals' level (a fraction: 0.95)."""


class Tabular:
    """Mixin for result classes with `to_dict()`: adds `to_frame()` and `_repr_html_()`."""

    _frame_rows: ClassVar[str | Callable[[dict[str, Any]], list[dict[str, Any]]]] = ""

    to_dict: Callable[[], dict[str, Any]]
    """Every class using the mixin defines it (directly or through scaling.document.Document)."""

    def to_frame(self) -> pd.DataFrame:
        """The result as a DataFrame, one row per item (law, plan, coefficient, back-test point...)."""
        # lazy: pandas loads only when a table is built
        import pandas as pd

        return pd.DataFrame([flatten(row) for row in self._rows()])

    def _repr_html_(self) -> str:
        frame = self.to_frame()
        levels = sorted({float(v) for key in LEVEL_KEYS if key in frame for v in frame[key].dropna()})
        caption = type(self).__name__ + (f": {', '.join(f'{v:.0%}' for v in levels)} intervals" if levels else "")
        table = frame.to_html(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}", border=0)
        return f"<div><p><b>{html.escape(caption)}</b></p>{table}</div>"

    def _rows(self) -> list[dict[str, Any]]:
        document = self.to_dict()
        rows = self._frame_rows
        if callable(rows):
            return rows(document)
        if not rows:
            return [document]
        level = next((document[k] for k in LEVEL_KEYS if document.get(k) is not None), None)
        items = [dict(row) for row in document[rows]]
        if level is not None:  # a report-wide level goes on every row
            for row in items:
                row.setdefault("interval_level", level)
        return items


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys; `*_interval` pairs to `*_low`/`*_high`; other lists kept as they are."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        elif name.endswith("_interval") and (value is None or len(value) == 2):
            stem = name.removesuffix("_interval")
            out[f"{stem}_low"], out[f"{stem}_high"] = value if value is not None else (None, None)
        else:
            out[name] = value
    return out
