"""Sweep specs as TOML: `parse_spec` (a parsed document -> SweepConfig, each error naming its
field), `load_spec` (a path, or a bundled spec by name: scaling/sweep/specs/*.toml, e.g.
`load_spec("cpu-smoke")`), and `spec_toml` (a SweepConfig back to TOML, as the designer writes
its rounds). Plug-in tables are parsed by the package that registered them (scaling.sweep.tables).
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

from scaling.config import ModelConfig
from scaling.sweep import tables
from scaling.sweep.branches import parse_wsd
from scaling.sweep.grids import IsoFlopGrid, NxDGrid, ShapeRule, Sizes, log_range
from scaling.sweep.spec import PlannedRun, SweepConfig, train_config
from scaling.sweep.tables import integer as _int
from scaling.sweep.tables import number as _float
from scaling.sweep.tables import table as _table

_SPEC_KEYS = {"name", "description", "data", "device", "seeds", "flops_method", "shape", "train",
              "isoflop", "grid", "wsd"}


def parse_spec(doc: dict[str, Any], default_name: str = "") -> SweepConfig:
    """A SweepConfig from a parsed TOML document (see scaling/sweep/specs/*.toml for examples)."""
    unknown = sorted(set(doc) - _SPEC_KEYS - set(tables.registered()))
    if unknown:
        raise ValueError(f"unknown sweep spec keys: {', '.join(unknown)} "
                         f"(plug-in tables known: {', '.join(tables.registered()) or 'none'})")
    plugins = {name: tables.parse_table(name, doc[name]) for name in tables.registered() if name in doc}
    grid: IsoFlopGrid | NxDGrid | None = None
    choosers = [name for name, plugin in plugins.items() if plugin.chooses_runs]
    if choosers:
        if "isoflop" in doc or "grid" in doc:
            raise ValueError(f"a [{choosers[0]}] study chooses its own runs: leave out [isoflop] and [grid]")
    elif ("isoflop" in doc) == ("grid" in doc):
        raise ValueError("a sweep spec needs exactly one of [isoflop] or [grid] (or a [design] table)")
    elif "isoflop" in doc:
        grid = _parse_isoflop(_table(doc["isoflop"], "isoflop", {"budgets", "sizes"}))
    else:
        table = _table(doc["grid"], "grid", {"sizes", "tokens", "tokens_per_param"})
        grid = NxDGrid(sizes=_parse_sizes(table.get("sizes"), "grid.sizes"),
                       tokens=_numbers(table.get("tokens", []), "grid.tokens"),
                       tokens_per_param=_numbers(table.get("tokens_per_param", []), "grid.tokens_per_param"))
    shape_keys = {f.name for f in fields(ShapeRule)}
    spec = SweepConfig(
        name=str(doc.get("name", default_name)), grid=grid,
        shape=ShapeRule(**_table(doc.get("shape", {}), "shape", shape_keys)),
        data=str(doc.get("data", "stdlib")), device=str(doc.get("device", "auto")),
        seeds=_seeds(doc.get("seeds", [0]), "seeds"), flops_method=str(doc.get("flops_method", "6ND")),
        train=dict(_table(doc.get("train", {}), "train", None)),
        description=str(doc.get("description", "")),
        tables=plugins,
        wsd=parse_wsd(doc["wsd"]) if "wsd" in doc else None,
    )
    # [train], data and device are checked now, on a stand-in run, so a bad value is named with
    # the spec's file (load_spec) rather than when the runs are planned
    probe = PlannedRun(model=ModelConfig(n_layer=1, d_model=8, n_head=1), tokens=1, seed=spec.seeds[0])
    train_config(spec, probe)
    return spec


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(s, int) for s in value):
        raise ValueError(f"{where} must be a non-empty list of integers, got {value!r}")
    return tuple(value)


def _numbers(value: Any, where: str) -> tuple[float, ...]:
    """A list of numbers, or {min, max, count} for a log range."""
    if isinstance(value, dict):
        table = _table(value, where, {"min", "max", "count"})
        if set(table) != {"min", "max", "count"}:
            raise ValueError(f"{where}: a range needs min, max and count")
        return log_range(_float(table["min"], f"{where}.min"), _float(table["max"], f"{where}.max"),
                         _int(table["count"], f"{where}.count"))
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) for v in value):
        raise ValueError(f"{where} must be a list of numbers or {{min, max, count}}, got {value!r}")
    return tuple(float(v) for v in value)


def _parse_sizes(value: Any, where: str) -> Sizes:
    if value is None:
        raise ValueError(f"{where} is required")
    if isinstance(value, dict) and "d_model" in value:
        widths = _table(value, where, {"d_model"})["d_model"]
        if not isinstance(widths, list) or not all(isinstance(w, int) for w in widths):
            raise ValueError(f"{where}.d_model must be a list of integers, got {widths!r}")
        return Sizes(widths=tuple(widths))
    if isinstance(value, dict) and "center_tokens_per_param" in value:
        table = _table(value, where, {"center_tokens_per_param", "span", "count"})
        return Sizes(center_tokens_per_param=_float(table["center_tokens_per_param"], f"{where}.center_tokens_per_param"),
                     span=_float(table.get("span", 8.0), f"{where}.span"),
                     count=_int(table.get("count", 5), f"{where}.count"))
    return Sizes(params=_numbers(value, where))


def _parse_isoflop(table: dict[str, Any]) -> IsoFlopGrid:
    budgets, per_budget = [], []
    raw = table.get("budgets")
    if isinstance(raw, list) and any(isinstance(b, dict) for b in raw):
        for entry in raw:
            if isinstance(entry, dict):
                item = _table(entry, "isoflop.budgets", {"flops", "sizes", "seeds"})
                seeds = _seeds(item["seeds"], "isoflop.budgets.seeds") if "seeds" in item else None
                if "flops" not in item:
                    raise ValueError("isoflop.budgets: each budget table needs flops")
                per_budget.append((_float(item["flops"], "isoflop.budgets.flops"), _parse_sizes(item.get("sizes"), "isoflop.budgets.sizes"),
                                   seeds))
            else:
                budgets.append(_float(entry, "isoflop.budgets"))
    else:
        budgets = list(_numbers(raw if raw is not None else [], "isoflop.budgets"))
    sizes = _parse_sizes(table["sizes"], "isoflop.sizes") if "sizes" in table else None
    return IsoFlopGrid(budgets=tuple(budgets), sizes=sizes, per_budget=tuple(per_budget))


def bundled_specs() -> list[str]:
    """Names of the specs shipped in scaling/sweep/specs/."""
    folder = resources.files("scaling.sweep") / "specs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_spec(spec: str | Path) -> SweepConfig:
    """Load a spec from a TOML path, or a bundled spec by name ("cpu-smoke")."""
    path = Path(spec)
    if path.suffix != ".toml" and not path.exists():
        bundled = resources.files("scaling.sweep") / "specs" / f"{spec}.toml"
        if not bundled.is_file():
            raise ValueError(f"no sweep spec file {spec!r} and no bundled spec of that name "
                             f"(bundled: {', '.join(bundled_specs())})")
        text, stem = bundled.read_text(), str(spec)
    else:
        if not path.is_file():
            raise FileNotFoundError(f"sweep spec not found: {path}")
        text, stem = path.read_text(), path.stem
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{spec}: invalid TOML: {exc}") from exc
    try:
        return parse_spec(doc, default_name=stem)
    except ValueError as exc:
        raise ValueError(f"{spec}: {exc}") from None


def spec_toml(spec: SweepConfig, header: str = "") -> str:
    """`spec` as TOML that `load_spec` reads back to the same runs (IsoFLOP grids of explicit
    sizes, as the designer writes them), under `header` comment lines."""
    # lazy: tomli_w loads only when a spec is written
    import tomli_w

    grid = spec.grid
    if not isinstance(grid, IsoFlopGrid) or grid.budgets or any(s.center_tokens_per_param is not None or s.widths
                                                                for _, s, _ in grid.per_budget):
        raise ValueError("only IsoFLOP grids of explicit sizes per budget are written back to TOML")
    doc: dict[str, Any] = {"name": spec.name, "description": spec.description, "data": spec.data,
                           "device": spec.device, "seeds": list(spec.seeds), "flops_method": spec.flops_method,
                           "shape": {k: v for k, v in _plain(spec.shape).items() if v is not None}}
    if spec.train:
        doc["train"] = dict(spec.train)
    doc["isoflop"] = {"budgets": [{"flops": flops, "sizes": [float(round(p)) for p in sizes.params],
                                   **({"seeds": list(seeds)} if seeds else {})}
                                  for flops, sizes, seeds in grid.per_budget]}
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + tomli_w.dumps(doc, multiline_strings=False)


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}
