"""Energy per step from NVML's total-energy counter; cross-check: mean power x step time."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from mobius_core.measure.result import Result

COUNTER = "nvmlDeviceGetTotalEnergyConsumption delta around each timed step"
POWER = "mean nvmlDeviceGetPowerUsage during the memory pass x median step time"


@dataclass
class EnergyResult(Result):
    joules_per_step: float | None = None  # median over the timed steps
    samples_j: list[float] | None = None
    method: str | None = None
    power_watts: float | None = None
    power_joules_per_step: float | None = None
    power_method: str | None = None


def from_counter(samples_mj: list[int], power_mw: list[int], median_ms: float) -> EnergyResult:
    """Joules per step from counter deltas; the power cross-check where samples exist."""
    result = EnergyResult(
        joules_per_step=statistics.median(samples_mj) / 1000,
        samples_j=[s / 1000 for s in samples_mj],
        method=COUNTER,
    )
    if power_mw:
        watts = statistics.fmean(power_mw) / 1000
        result.power_watts = watts
        result.power_joules_per_step = watts * median_ms / 1000
        result.power_method = POWER
    else:
        result.absent["power_joules_per_step"] = "no power samples were taken"
    return result


def absent(reason: str) -> EnergyResult:
    return EnergyResult(absent={"joules_per_step": reason})
