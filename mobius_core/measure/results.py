"""Every tracker's result as a plain dataclass: what a record holds. Imports no torch.

A figure that cannot be measured is None, never zero, and `absent` says why. A field's
metadata tells every reader how to treat it, so that adding a figure means adding a field:
- `column`: its name in the flat table (a dict field's keys are appended: `saved_temporal`);
  no column, not tabled;
- `unit`: bytes, ms, s, flop, J, W, ratio, count or text;
- `compare`: `exact` (deterministic: any change regresses and the CI baseline keeps it),
  `memory` (within the memory tolerance on the same machine) or `time` (by the bootstrap
  interval of the samples); no `compare`, not compared.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from mobius_core.measure.schema import (  # noqa: F401 (readers import them from here)
    RecordError,
    Result,
    Versioned,
    build,
    check,
)

# how `compare` judges a figure: exact (any change), counted (beyond the memory tolerance, on
# any machine: counted op by op, it depends on no load), memory (the same, on one machine),
# time (by the interval of its ratio, on one machine); exact and counted go into baselines
EXACT, COUNTED, MEMORY, TIME = "exact", "counted", "memory", "time"
DETERMINISTIC = (EXACT, COUNTED)


def figure(unit: str, column: str | None = None, compare: str | None = None) -> Any:
    """A figure field: absent (None) until measured."""
    return field(default=None, metadata={"unit": unit, "column": column, "compare": compare})


@dataclass
class ParamCounts(Result):
    trainable: int | None = figure("count", "params_trainable", EXACT)
    frozen: int | None = figure("count", "params_frozen", EXACT)
    total: int | None = figure("count", "params_total", EXACT)


@dataclass
class TimeResult(Result):
    """Per-step times in milliseconds: a summary and the raw samples."""

    method: str = ""
    samples_ms: list[float] | None = None
    median_ms: float | None = figure("ms", "time_median_ms", TIME)
    q1_ms: float | None = figure("ms", "time_q1_ms")
    q3_ms: float | None = figure("ms", "time_q3_ms")
    iqr_ms: float | None = figure("ms", "time_iqr_ms")
    cv: float | None = figure("ratio", "time_cv")  # standard deviation / mean
    min_ms: float | None = figure("ms", "time_min_ms")
    max_ms: float | None = figure("ms", "time_max_ms")

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


@dataclass
class LeakResult(Result):
    """Memory held after the step that was not held before it, and autograd nodes left."""

    status: str = "ok"  # ok or leak
    bytes: int | None = figure("bytes", "leak_bytes")
    graph_alive: bool | None = None  # the step's autograd graph outlived the step
    method: str | None = None


@dataclass
class MemoryResult(Result):
    """Peak memory of one step, by two methods, and what was resident before it."""

    resident_before: int | None = figure("bytes", "mem_resident_before")
    peak_allocated: int | None = figure("bytes", "peak_allocated", MEMORY)
    peak_allocated_samples: list[int] | None = None  # one per memory pass
    # CPU (eager): the most bytes of live tensors at once, counted op by op (`LiveBytes`)
    peak_live: int | None = figure("bytes", "peak_live", COUNTED)
    peak_reserved: int | None = figure("bytes", "peak_reserved", MEMORY)
    nvml_before: int | None = figure("bytes", "nvml_before")
    nvml_peak: int | None = figure("bytes", "nvml_peak")
    nvml_after: int | None = figure("bytes", "nvml_after")
    nvml_process: int | None = figure("bytes", "nvml_process")  # this process's own use
    nvml_method: str | None = None
    # resident: parameters (with buffers), optimizer, batch; the step's: gradients, saved, rest
    breakdown: dict[str, int] | None = figure("bytes", "mem")
    leak: LeakResult | None = None
    isolation: str | None = None  # how the pass was kept apart from other variants

    @property
    def peak(self) -> int | None:
        """The step's peak: the allocator's (CUDA), else the live tensors' counted (CPU)."""
        return self.peak_allocated if self.peak_allocated is not None else self.peak_live


@dataclass
class SavedResult(Result):
    """Bytes saved for backward in one forward, deduplicated by storage, by region."""

    bytes: int | None = figure("bytes", "saved_bytes", EXACT)
    tensors: int | None = figure("count", "saved_tensors")  # distinct storages
    by_region: dict[str, int] | None = figure("bytes", "saved")
    allocator_bytes: int | None = figure("bytes", "saved_allocator")  # CUDA cross-check


@dataclass
class FlopsResult(Result):
    total: int | None = figure("flop", "flops", EXACT)
    forward: int | None = figure("flop", "flops_forward", EXACT)
    backward: int | None = figure("flop", "flops_backward", EXACT)  # recomputation included
    recomputed: int | None = figure("flop", "flops_recomputed", EXACT)
    by_region: dict[str, dict[str, int]] | None = figure("flop", "flops")  # phase -> region
    fvcore_forward: int | None = figure("flop", "fvcore_forward")
    fvcore_agreement: float | None = figure("ratio", "fvcore_agreement")
    note: str | None = None  # why the two disagree, where they do
    convention: str = ""


@dataclass
class EnergyResult(Result):
    joules_per_step: float | None = figure("J", "energy_j")  # median over timed steps
    samples_j: list[float] | None = None
    method: str | None = None
    power_watts: float | None = figure("W", "power_w")
    power_joules_per_step: float | None = figure("J", "energy_power_j")
    power_method: str | None = None


@dataclass
class EfficiencyResult(Result):
    mfu: float | None = figure("ratio", "mfu")  # model FLOPs, recomputation left out
    hfu: float | None = figure("ratio", "hfu")  # hardware FLOPs, recomputation included
    achieved_tflops: float | None = figure("TFLOP/s", "achieved_tflops")
    peak_tflops: float | None = None
    peak_source: str | None = None


@dataclass
class OverheadResult(Result):
    tracker_ms_per_step: float | None = figure("ms", "overhead_ms")
    fraction_of_step: float | None = figure("ratio", "overhead_fraction")
    method: str = "host time spent reading trackers around each timed step"


@dataclass
class RatioResult(Result):
    """A variant's median over the baseline's, with a bootstrap interval."""

    ratio: float | None = figure("ratio", "time_ratio")
    low: float | None = figure("ratio", "time_ratio_low")
    high: float | None = figure("ratio", "time_ratio_high")
    method: str | None = None


@dataclass
class DistributedResult(Result):
    """A ddp or fsdp step over `world_size` ranks: per-rank figures, the bytes the step's
    collectives carry and the scaling against the same case measured at world size 1."""

    world_size: int = 1
    backend: str = ""
    wrapping: str = ""  # what DDP holds, or how FSDP2 shards the variant
    rank_median_ms: list[float] | None = None  # each rank's own median step time
    rank_peak_bytes: list[int] | None = None  # each rank's peak memory, by `rank_peak_method`
    rank_peak_max: int | None = figure("bytes", "rank_peak_max")
    rank_peak_method: str | None = None
    comm_bytes: int | None = figure("bytes", "comm_bytes", EXACT)  # per step and rank
    comm_by_collective: dict[str, int] | None = figure("bytes", "comm")
    comm_calls: dict[str, int] | None = None
    comm_method: str | None = None
    world1_median_ms: float | None = figure("ms", "time_world1_median_ms")
    world1_samples_ms: list[float] | None = None
    scaling_efficiency: float | None = figure("ratio", "scaling_efficiency")
    scaling_method: str | None = None
    note: str | None = None  # what the figures are good for (CPU: a correctness check)


@dataclass
class CompileResult(Result):
    """torch.compile's cost for one variant, kept out of its timed steps (`--mode compile`).

    Warm-up steps run until one compiles nothing: `compiles` are the graphs the first step
    compiled (more than one: graph breaks), `recompiles` those later warm-up steps compiled
    (guards that failed), `timed_recompiles` any compiled while timed (then the timing
    holds compilation). `seconds` is the timing process's warm-up, which compiles after the
    memory process has compiled the same step (its caches warm); `cold_seconds` is that
    memory process's warm-up, the variant's first compile at this shape in the run (None in
    records written before it was kept)."""

    compile_mode: str | None = None  # torch.compile's mode (None: torch's default)
    backend: str = "inductor"
    seconds: float | None = figure("s", "compile_s")  # inside dynamo's compile callbacks
    cold_seconds: float | None = figure("s", "compile_cold_s")  # the memory process's
    warmup_excess_s: float | None = figure("s", "compile_warmup_excess_s")  # cross-check
    compiles: int | None = figure("count", "compiles")
    recompiles: int | None = figure("count", "recompiles")
    warmup_steps: int | None = figure("count", "compile_warmup_steps")
    timed_recompiles: int | None = figure("count", "recompiles_timed")
    cache_hits: int | None = None  # inductor's FX graph cache, while warming up
    cache_misses: int | None = None
    stable: bool | None = None  # a warm-up step compiled nothing before the limit
    method: str = ""
