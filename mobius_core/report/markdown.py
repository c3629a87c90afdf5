"""Markdown tables from rows of equal keys, and the units figures are shown in."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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


def _scaled(n: float, steps: Sequence[tuple[float, str, str]], small: str) -> str:
    """`n` in the largest unit of `steps` (factor, name, format) it reaches, else `small`."""
    for factor, name, fmt in steps:
        if abs(n) >= factor:
            return f"{n / factor:{fmt}} {name}"
    return f"{n:,.0f} {small}"


def size(n: float | None) -> str:
    """Bytes in GiB, MiB or KiB."""
    steps = ((2**30, "GiB", ".2f"), (2**20, "MiB", ".1f"), (2**10, "KiB", ".1f"))
    return "" if missing(n) else _scaled(n, steps, "B")


def flops(n: float | None) -> str:
    """FLOPs in TFLOP, GFLOP or MFLOP."""
    steps = ((1e12, "TFLOP", ".2f"), (1e9, "GFLOP", ".2f"), (1e6, "MFLOP", ".2f"))
    return "" if missing(n) else _scaled(n, steps, "FLOP")


FORMATS: dict[str, Callable[[Any], str]] = {
    "bytes": size,
    "flop": flops,
    "ms": lambda v: f"{v:.1f} ms",
    "count": lambda v: f"{v:,}",
    "ratio": lambda v: f"{v:.3f}",
    "J": lambda v: f"{v:.1f} J",
    "W": lambda v: f"{v:.1f} W",
    "TFLOP/s": lambda v: f"{v:.2f} TFLOP/s",
}


def formatted(value: Any, unit: str | None) -> str:
    """A figure in its unit, scaled for reading (`58.7 ms`, `1.23 GiB`, `9.34 TFLOP`)."""
    if missing(value):
        return ""
    show = FORMATS.get(unit or "")
    return show(value) if show and not isinstance(value, bool | str) else str(value)
