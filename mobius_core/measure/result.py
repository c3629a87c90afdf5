"""The common shape of a tracker's result: plain-JSON fields and the reasons for absences."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

R = TypeVar("R", bound="Result")


@dataclass
class Result:
    """Base of every tracker's result. A field left None is absent; `absent` says why."""

    absent: dict[str, str] = field(default_factory=dict, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
