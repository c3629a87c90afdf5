"""Energy per step from NVML's total-energy counter; cross-check: mean power x step time."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from mobius_core.measure import nvml
from mobius_core.measure.results import EnergyResult
from mobius_core.measure.tracker import Tracker

COUNTER = "nvmlDeviceGetTotalEnergyConsumption delta around each timed step"
POWER = "mean nvmlDeviceGetPowerUsage during the memory pass x median step time"
NO_COUNTER = "this GPU has no NVML total-energy counter"


class EnergyTracker(Tracker[EnergyResult]):
    """The energy counter's delta over each step it is entered around.

    `handle` None (no NVML) leaves the figure absent with `reason`. `overhead_s` is the
    host time spent reading the counter, which the timed step pays for.
    """

    def __init__(self, handle: Any | None, reason: str = "") -> None:
        self.handle, self.reason = handle, reason
        self.samples_mj: list[int] = []
        self.steps = 0
        self.overhead_s = 0.0

    @contextmanager
    def track(self) -> Iterator[None]:
        begin = time.perf_counter()
        before = nvml.energy_mj(self.handle) if self.handle is not None else None
        self.overhead_s += time.perf_counter() - begin
        yield
        begin = time.perf_counter()
        after = nvml.energy_mj(self.handle) if self.handle is not None else None
        self.overhead_s += time.perf_counter() - begin
        self.steps += 1
        if before is not None and after is not None:
            self.samples_mj.append(after - before)

    def result(self) -> EnergyResult:
        if self.handle is None:
            return EnergyResult(absent={"joules_per_step": self.reason})
        if not self.samples_mj or len(self.samples_mj) != self.steps:
            return EnergyResult(absent={"joules_per_step": NO_COUNTER})
        return EnergyResult(
            joules_per_step=statistics.median(self.samples_mj) / 1000,
            samples_j=[s / 1000 for s in self.samples_mj],
            method=COUNTER,
        )


def with_power(result: EnergyResult, power_mw: list[int], median_ms: float) -> EnergyResult:
    """`result` with the cross-check: mean power over `power_mw` samples x the median step."""
    if not power_mw:
        return replace(
            result, absent={**result.absent, "power_joules_per_step": "no power samples taken"}
        )
    watts = statistics.fmean(power_mw) / 1000
    return replace(
        result,
        power_watts=watts,
        power_joules_per_step=watts * median_ms / 1000,
        power_method=POWER,
    )
