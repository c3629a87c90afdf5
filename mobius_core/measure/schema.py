"""The machinery of every result dataclass: JSON out and back, each field's type checked.

`measure.results` builds on it and re-exports it; readers import it from there. Imports no
torch.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, ClassVar, TypeVar

from mobius_core.errors import BadInput

R = TypeVar("R", bound="Result")


class RecordError(BadInput):
    """A record or result that does not have the shape its schema promises."""


@dataclass
class Result:
    """Base of every tracker's result; serialises to plain JSON and back, checked."""

    absent: dict[str, str] = field(default_factory=dict, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON; absent (None) fields and empty maps left out."""
        plain = {f.name: _plain(getattr(self, f.name)) for f in fields(self)}
        return {k: v for k, v in plain.items() if v is not None and v != {}}

    @classmethod
    def from_dict(cls: type[R], data: Any, where: str = "") -> R:
        """The result `data` describes; RecordError names the first field that is wrong."""
        return build(cls, data, where or cls.__name__)

    def columns(self, prefix: str = "") -> dict[str, tuple[Any, dict[str, Any]]]:
        """Column name -> (value, field metadata) for every tabled field, present or not."""
        out: dict[str, tuple[Any, dict[str, Any]]] = {}
        for f in fields(self):
            column, value = f.metadata.get("column"), getattr(self, f.name)
            if isinstance(value, Result):
                out.update(value.columns())
            elif column and isinstance(value, dict):
                for key, inner in _flatten(value, column).items():
                    out[key] = (inner, dict(f.metadata))
            elif column:
                out[prefix + column] = (value, dict(f.metadata))
        return out


@dataclass
class Versioned(Result):
    """A Result that stands for a whole record or file: its `schema` field (declared by the
    subclass, with its current value as default) is checked before anything else is read."""

    NAME: ClassVar[str] = "record"  # what a message calls it

    @classmethod
    def from_dict(cls: type[R], data: Any, where: str = "") -> R:
        where = where or cls.NAME  # type: ignore[attr-defined]
        expected = cls.__dataclass_fields__["schema"].default
        found = data.get("schema") if isinstance(data, dict) else None
        if not isinstance(data, dict):
            raise RecordError(f"{where}: expected an object, got {type(data).__name__}")
        if found != expected:
            raise RecordError(f"{where}: schema {found!r}, expected {expected!r}")
        return build(cls, data, where)


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _flatten(value: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, inner in value.items():
        if isinstance(inner, dict):
            out.update(_flatten(inner, f"{prefix}_{key}"))
        else:
            out[f"{prefix}_{key}"] = inner
    return out


D = TypeVar("D")


def build(cls: type[D], data: Any, where: str) -> D:
    """The dataclass `cls` from plain JSON `data`, each field's type checked."""
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING and f.init:
                raise RecordError(f"{where}.{f.name}: missing")
            continue
        values[f.name] = check(data[f.name], hints[f.name], f"{where}.{f.name}")
    try:
        return cls(**values)
    except RecordError as error:
        raise RecordError(f"{where}.{error}") from None


def check(value: Any, hint: Any, where: str) -> Any:
    """`value` if it has the type `hint` names (Results are rebuilt), else RecordError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return check(value, inner[0], where) if len(inner) == 1 else value
    if hint is Any:
        return value
    if isinstance(hint, type) and is_dataclass(hint):
        return (
            hint.from_dict(value, where)
            if hasattr(hint, "from_dict")
            else build(hint, value, where)
        )
    if origin is list:
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list, got {type(value).__name__}")
        return [check(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object, got {type(value).__name__}")
        return {str(k): check(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecordError(f"{where}: expected a number, got {type(value).__name__}")
        return value
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise RecordError(f"{where}: expected a whole number, got {type(value).__name__}")
    if hint in (str, bool) and not isinstance(value, hint):
        raise RecordError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
    return value
