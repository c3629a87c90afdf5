"""Markdown tables from rows of equal keys, and the units figures are shown in."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table; None and NaN cells are left empty."""
    if not rows:
        return "(none)"
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_cell(r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def missing(value: Any) -> bool:
    """None or NaN: an absent figure, shown as an empty cell."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(value: Any) -> str:
    return "" if missing(value) else str(value).replace("|", "/")


def number(value: float | None, fmt: str) -> str:
    return "" if missing(value) else fmt.format(value)


def size(n: float | None) -> str:
    """Bytes in GiB or MiB."""
    if missing(n):
        return ""
    return f"{n / 2**30:.2f} GiB" if abs(n) >= 2**30 else f"{n / 2**20:.1f} MiB"


def flops(n: float | None) -> str:
    if missing(n):
        return ""
    return f"{n / 1e12:.2f} TFLOP" if n >= 1e12 else f"{n / 1e9:.2f} GFLOP"
