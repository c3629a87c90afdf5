"""Step time: CUDA events around each step (host clock with synchronisation on CPU)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from mobius_core.measure.result import Result

EVENTS = "CUDA events around each step, synchronised on the end event"
HOST_CLOCK = "host perf_counter around each step (CPU work is synchronous)"


@dataclass
class TimeResult(Result):
    """Summary of per-step times in milliseconds, and the raw samples."""

    method: str = ""
    samples_ms: list[float] | None = None
    median_ms: float | None = None
    q1_ms: float | None = None
    q3_ms: float | None = None
    iqr_ms: float | None = None
    cv: float | None = None  # standard deviation / mean
    min_ms: float | None = None
    max_ms: float | None = None

    @classmethod
    def from_samples(cls, samples_ms: list[float], method: str) -> TimeResult:
        if not samples_ms:
            raise ValueError("time: no samples")
        q1, median, q3 = _quartiles(samples_ms)
        mean = statistics.fmean(samples_ms)
        spread = statistics.pstdev(samples_ms) if len(samples_ms) > 1 else 0.0
        return cls(
            method=method,
            samples_ms=list(samples_ms),
            median_ms=median,
            q1_ms=q1,
            q3_ms=q3,
            iqr_ms=q3 - q1,
            cv=spread / mean if mean > 0 else 0.0,
            min_ms=min(samples_ms),
            max_ms=max(samples_ms),
        )


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    """Quartiles by linear interpolation (numpy's default), exact for one value."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


class StepTimer:
    """Times one call at a time on `device`; returns milliseconds."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.method = EVENTS if device == "cuda" else HOST_CLOCK

    def __call__(self, step: Callable[[], object]) -> float:
        if self.device == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))
        begin = time.perf_counter()
        step()
        return 1000.0 * (time.perf_counter() - begin)
