"""Plug-in tables of a sweep spec, and the small checks every table's parser shares.

The sweep's TOML schema owns [isoflop], [grid], [shape] and [train]. A study type adds a table of
its own by registering its parser here, from its own package: [tune] (scaling.tuning.spec), [design]
(scaling.design.goal). The sweep never imports the packages above it; a spec naming a table that
no imported package registered is refused with the tables that are known. The sweep asks a parsed
table only what `SpecTable` declares.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol


class SpecTable(Protocol):
    """What the sweep asks of a plug-in table's parsed value."""

    chooses_runs: ClassVar[bool]
    """True: the table's study chooses the runs round by round, so the spec has no [isoflop] or
    [grid] (a designed study)."""

    def points(self) -> list[dict[str, Any]]:
        """TrainConfig overrides crossed with every planned run ([{}]: the runs as planned)."""
        ...

    def count(self) -> int:
        """len(points()), counted without building them (the spec's run cap is checked first)."""
        ...

    def check(self, name: str, spec: Any) -> None:
        """ValueError when the rest of `spec` (a scaling.sweep.spec.SweepConfig: typed Any here, as
        this module sits below the spec that holds its tables) contradicts this table (registered
        as `name`)."""
        ...


_PARSERS: dict[str, Callable[[Any], SpecTable]] = {}


def register(name: str, parse: Callable[[Any], SpecTable]) -> None:
    """Make [name] a table of sweep specs, parsed by `parse` (its ValueErrors name the field)."""
    _PARSERS[name] = parse


def registered() -> tuple[str, ...]:
    """The plug-in tables known now (those of the packages imported so far)."""
    return tuple(sorted(_PARSERS))


def parse_table(name: str, value: Any) -> SpecTable:
    """The parsed [name] table (KeyError when no imported package registered it)."""
    return _PARSERS[name](value)


def table(value: Any, where: str, keys: set[str] | None) -> dict[str, Any]:
    """`value` when it is a TOML table whose keys are among `keys` (any keys when None)."""
    if not isinstance(value, dict):
        raise ValueError(f"[{where}] must be a table, got {value!r}")
    if keys is not None and set(value) - keys:
        raise ValueError(f"unknown keys in [{where}]: {', '.join(sorted(set(value) - keys))}")
    return value


def number(value: Any, where: str) -> float:
    """A TOML number as a float (a bool is no number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} must be a number, got {value!r}")
    return float(value)


def integer(value: Any, where: str) -> int:
    """A TOML integer (a bool is no integer)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} must be an integer, got {value!r}")
    return value
