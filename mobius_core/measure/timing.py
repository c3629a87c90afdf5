"""Step time: CUDA events around each step on CUDA, the host clock on CPU."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from mobius_core.measure.results import TimeResult
from mobius_core.measure.tracker import Tracker

EVENTS = "CUDA events around each step, synchronised on the end event"
HOST_CLOCK = "host perf_counter around each step (CPU work is synchronous)"


class StepTimer(Tracker[TimeResult]):
    """Times each step it is entered around, in milliseconds; `result()` summarises them."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.method = EVENTS if device == "cuda" else HOST_CLOCK
        self.samples_ms: list[float] = []

    @contextmanager
    def track(self) -> Iterator[None]:
        if self.device == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            yield
            end.record()
            end.synchronize()
            self.samples_ms.append(float(start.elapsed_time(end)))
            return
        begin = time.perf_counter()
        yield
        self.samples_ms.append(1000.0 * (time.perf_counter() - begin))

    def result(self) -> TimeResult:
        if not self.samples_ms:
            return TimeResult(method=self.method, absent={"median_ms": "no step was timed"})
        return TimeResult.from_samples(self.samples_ms, self.method)
