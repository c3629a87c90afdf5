"""The unit a plot's axis is drawn in: the largest whose scale the data reaches."""

from __future__ import annotations

from collections.abc import Sequence

BYTES = ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))
FLOPS = ((1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP"))


def scale(peak: float, steps: Sequence[tuple[float, str]], small: str) -> tuple[float, str]:
    """(divisor, unit name) for data whose largest value is `peak`: the largest unit of
    `steps` (factor, name) that `peak` reaches, else (1, `small`)."""
    for factor, name in steps:
        if abs(peak) >= factor:
            return factor, name
    return 1.0, small


def byte_unit(peak: float) -> tuple[float, str]:
    """GiB from 1 GiB up, MiB from 1 MiB, KiB from 1 KiB, else bytes."""
    return scale(peak, BYTES, "B")


def flop_unit(peak: float) -> tuple[float, str]:
    """TFLOP, GFLOP or MFLOP, else FLOP."""
    return scale(peak, FLOPS, "FLOP")


def short(value: float) -> str:
    """A bar label: whole numbers from 100 up, else one or two decimals (`665`, `41.1`, `0.62`)."""
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}"
