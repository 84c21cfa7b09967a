"""The result contract every top-level result keeps: `to_dict` / `from_dict` (the body, which
nests inside other documents) and `to_json` / `from_json` (the body under a versioned schema
tag, what `--out` writes, `--format json` prints and other commands read).

References: lmfit's versioned `ModelResult.dumps`; scipy's typed result objects.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

from scaling.frames import Tabular

T = TypeVar("T", bound="Document")


class Document(Tabular):
    """Mixin for frozen result dataclasses. Subclasses set SCHEMA ("scaling.Name/N": bump N on
    any change to the fields, and keep a reader for old ones). Notebooks get `to_frame()` and a
    rich display from `Tabular`, read from the same `to_dict()`."""

    SCHEMA: ClassVar[str]
    OLD_SCHEMAS: ClassVar[tuple[str, ...]] = ()
    """Earlier versions `from_json` still reads (`from_dict` maps their fields to today's)."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: to_plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        return from_plain(cls, data)

    def to_document(self) -> dict[str, Any]:
        """The JSON document as a dict: {"schema": SCHEMA, **to_dict()}."""
        return {"schema": self.SCHEMA, **self.to_dict()}

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_document(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        """Read `to_json` output, today's or an OLD_SCHEMAS version (ValueError on another schema or
        unknown fields)."""
        data = json.loads(text)
        schema = data.get("schema") if isinstance(data, dict) else None
        if schema != cls.SCHEMA and schema not in cls.OLD_SCHEMAS:
            raise ValueError(f"not a {cls.SCHEMA} document (schema {schema!r})")
        return cls.from_dict({k: v for k, v in data.items() if k != "schema"})


def renamed(data: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """`data` with its keys renamed old -> new, all at once: how `from_dict` reads the body of an
    earlier schema version whose fields were renamed."""
    return {names.get(key, key): value for key, value in data.items()}


def to_plain(value: Any) -> Any:
    """Dataclasses (their own `to_dict` where they have one), tuples and dicts as JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return value.to_dict()
        return {f.name: to_plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


def from_plain(cls: type[Any], data: dict[str, Any]) -> Any:
    """Rebuild dataclass `cls` from `to_plain` output, by its type hints (ValueError on unknown keys)."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unexpected {cls.__name__} fields {sorted(unknown)}")
    hints = get_type_hints(cls)
    return cls(**{name: _convert(hints[name], value) for name, value in data.items()})


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _convert(options[0], value) if len(options) == 1 else value
    if isinstance(hint, type) and is_dataclass(hint):
        reader = getattr(hint, "from_dict", None)
        return reader(value) if reader is not None else from_plain(hint, value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in value)
        return tuple(_convert(a, v) for a, v in zip(args, value)) if args else tuple(value)
    if origin is list and args:
        return [_convert(args[0], v) for v in value]
    return value
