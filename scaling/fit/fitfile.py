"""Validation of FitResult JSON documents read back as input (`scaling plan --law fit.json`).

A fit file may have been edited, truncated or written by another version; every key, type
and range is checked before any number is used, and the error names the file and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scaling.laws.registry import get_law

SCHEMA = "scaling.FitResult/3"
"""FitResult's JSON schema tag; bump the number on any change to the fields, and keep a reader for old ones."""
READABLE_SCHEMAS = ("scaling.FitResult/1", "scaling.FitResult/2", SCHEMA)
"""Schemas `FitResult.from_json` reads (/1 lacks `not_identifiable`, read as []; /1 and /2 lack
`data_range`, `columns`, `where`, `flops_convention`, `flops_ratio`, `diagnostics` and
`residuals`, read as empty, "6ND" and None: their fits took C = 6 N D)."""

__all__ = ["FitFileError", "parse_fit_document", "read_fit_text"]


class FitFileError(ValueError):
    """A fit file that is unreadable, not JSON, or not a valid FitResult document."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _numbers_by_name(value: Any) -> bool:
    return isinstance(value, dict) and all(_number(v) for v in value.values())


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


# field -> (check, what would be accepted); required fields first.
REQUIRED = ("schema", "law", "coefficients", "converged", "message", "n_points", "data_digest", "derived")
FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "schema": (_is_str, "a schema tag such as 'scaling.FitResult/2'"),
    "law": (_is_str, "a law name"),
    "coefficients": (lambda v: isinstance(v, dict), "an object {name: number}"),
    "converged": (lambda v: isinstance(v, bool), "true or false"),
    "message": (_is_str, "a string"),
    "n_points": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0"),
    "data_digest": (_is_str, "a string"),
    "derived": (_strings, "a list of names"),
    "approach": (_optional(_is_str), "a string or null"),
    "objective": (_optional(_number), "a finite number or null"),
    "edge_of_grid": (_strings, "a list of names"),
    "stderr": (_optional(_numbers_by_name), "an object {name: number} or null"),
    "cov": (_optional(lambda v: isinstance(v, list) and all(isinstance(r, list) and all(map(_number, r)) for r in v)),
            "a list of lists of numbers or null"),
    "uncertainty": (_is_str, "a string"),
    "level": (lambda v: _number(v) and 0 < v < 1, "a number in (0, 1)"),
    "intervals": (lambda v: isinstance(v, dict) and all(isinstance(i, list) and len(i) == 2 for i in v.values()),
                  "an object {name: [low, high]}"),
    "samples": (_optional(lambda v: isinstance(v, dict) and all(isinstance(s, list) for s in v.values())),
                "an object {name: [draws]} or null"),
    "params_convention": (lambda v: v in ("total", "non-embedding"), "'total' or 'non-embedding'"),
    "optima": (lambda v: isinstance(v, list) and all(isinstance(o, dict) for o in v), "a list of objects"),
    "options": (lambda v: isinstance(v, dict), "an object"),
    "not_identifiable": (_strings, "a list of strings"),
    "data_range": (lambda v: isinstance(v, dict) and all(isinstance(i, list) and len(i) == 2 and all(map(_number, i))
                                                         for i in v.values()), "an object {name: [low, high]}"),
    "columns": (lambda v: isinstance(v, dict) and all(isinstance(c, str) for c in v.values()),
                "an object {name: column}"),
    "where": (_strings, "a list of strings"),
    "flops_convention": (lambda v: v in ("6ND", "column"), "'6ND' or 'column'"),
    "flops_ratio": (_numbers_by_name, "an object {name: number}"),
    "diagnostics": (lambda v: isinstance(v, dict), "an object"),
    "residuals": (_optional(lambda v: isinstance(v, dict)), "an object or null"),
}


MAX_FIT_BYTES = 64 * 2**20
"""Largest fit file read, bytes: a fit with 100,000 bootstrap draws of five coefficients is about 10 MB."""


def read_fit_text(path: Path) -> str:
    """The text of a fit file (FitFileError naming the file when it cannot be read as text)."""
    try:
        if path.stat().st_size > MAX_FIT_BYTES:
            raise FitFileError(f"{path}: larger than the {MAX_FIT_BYTES // 2**20} MiB a fit file may be")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FitFileError(f"{path}: no such fit file") from None
    except IsADirectoryError:
        raise FitFileError(f"{path}: is a directory, expected a fit .json file") from None
    except UnicodeDecodeError:
        raise FitFileError(f"{path}: not UTF-8 text, expected a fit .json file written by `scaling fit --out`") from None


def parse_fit_document(text: str, source: str = "fit") -> dict[str, Any]:
    """Parse and validate a FitResult document; `source` names it in errors."""
    if not text.strip():
        raise FitFileError(f"{source}: empty file, expected a FitResult JSON document (`scaling fit --out`)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FitFileError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                           "truncated or edited?") from None
    except RecursionError:  # thousands of nested brackets: no fit file looks like this
        raise FitFileError(f"{source}: JSON nested too deeply to be a FitResult document") from None
    if not isinstance(data, dict):
        raise FitFileError(f"{source}: expected a JSON object (a FitResult), got {type(data).__name__}")
    if data.get("schema") not in READABLE_SCHEMAS:
        raise FitFileError(f"{source}: field schema is {data.get('schema')!r}; this version reads "
                           f"{', '.join(READABLE_SCHEMAS)}")
    missing = [name for name in REQUIRED if name not in data]
    if missing:
        raise FitFileError(f"{source}: missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    for name, value in data.items():
        if name in FIELDS and not FIELDS[name][0](value):
            raise FitFileError(f"{source}: field {name} is {_show(value)}; expected {FIELDS[name][1]}")
    try:
        law = get_law(data["law"])
    except ValueError as exc:
        raise FitFileError(f"{source}: field law: {exc}") from None
    _check_coefficients(data["coefficients"], law.param_names, source)
    for name in data["derived"]:
        if not _number(data.get(name)):
            raise FitFileError(f"{source}: field {name} (listed in derived) is {_show(data.get(name))}; "
                               "expected a finite number")
    return data


def _check_coefficients(coefficients: dict[str, Any], names: tuple[str, ...], source: str) -> None:
    missing = [n for n in names if n not in coefficients]
    extra = [n for n in coefficients if n not in names]
    if missing or extra:
        raise FitFileError(f"{source}: field coefficients must name exactly {', '.join(names)}; "
                           f"missing {', '.join(missing) or 'none'}, unexpected {', '.join(extra) or 'none'}")
    for name in names:
        value = coefficients[name]
        # Every registered form's coefficients (scales, exponents, ratios) are positive numbers.
        if not (_number(value) and value > 0):
            raise FitFileError(f"{source}: field coefficients.{name} is {_show(value)}; "
                               "expected a positive finite number")


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
