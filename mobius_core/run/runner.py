"""One case -> one record per variant: every figure, the config, the environment, a status.

The variants of a case are timed interleaved (A B C A B C ...), so that each ratio to
serial gets a bootstrap interval from paired rounds. Memory, saved activations and FLOPs
are measured in separate, untimed passes, so that no tracker slows a timed step. An
out-of-memory is recorded with its shapes, memory is released, and the run goes on.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from mobius_core.measure import efficiency, energy, flops, memory, nvml
from mobius_core.measure.environment import environment
from mobius_core.measure.saved import SavedTracker
from mobius_core.measure.stats import ratio_of_medians
from mobius_core.measure.timing import StepTimer, TimeResult
from mobius_core.models.config import Config, preset
from mobius_core.models.variants import parameter_counts
from mobius_core.training.devices import DTYPES, synchronize
from mobius_core.training.step import Batch, compute_loss, make_batch, make_optimizer, train_step

SCHEMA = "mobius-bench/1"
BASELINE = "serial"


@dataclass(frozen=True)
class Case:
    """A shape and its run settings; each variant of it gives one record."""

    preset: str
    batch: int
    frames: int
    resolution: int
    dtype: str  # fp32, bf16 or fp16
    device: str  # cpu or cuda
    rounds: int
    warmup: int

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype: unknown dtype {self.dtype!r}; choose from {list(DTYPES)}")
        if self.rounds < 2:
            raise ValueError(f"rounds: need at least 2 timed rounds, got {self.rounds}")
        if self.warmup < 0:
            raise ValueError(f"warmup: must not be negative, got {self.warmup}")
        self.config()  # validates the shape against the preset

    def config(self) -> Config:
        return preset(self.preset, batch=self.batch, frames=self.frames, resolution=self.resolution)

    @property
    def key(self) -> str:
        """Names the case without its variant, e.g. `sd15-b1-f16-r256-bf16-cuda`."""
        return (
            f"{self.preset}-b{self.batch}-f{self.frames}-r{self.resolution}"
            f"-{self.dtype}-{self.device}"
        )

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


@dataclass
class Trial:
    """One variant inside a case run: its model, optimizer and what it has measured."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    samples_ms: list[float] = field(default_factory=list)
    energy_mj: list[int] = field(default_factory=list)
    overhead_s: float = 0.0  # host time spent reading trackers around timed steps
    status: str = "ok"
    message: str | None = None


def is_oom(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, torch.cuda.OutOfMemoryError) or (
        isinstance(error, RuntimeError)
        and ("out of memory" in text or "can't allocate memory" in text)
    )


def release(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


class CaseRun:
    """Measures every variant of one case; `record(variant)` gives its record."""

    def __init__(self, case: Case, models: dict[str, nn.Module], seed: int = 0) -> None:
        self.case = case
        self.config = case.config()
        self.batch: Batch = make_batch(self.config, seed).to(case.device)
        self.timer = StepTimer(case.device)
        self.nvml, self.nvml_reason = nvml.open_device()
        self.env = environment()
        self.trials = {v: Trial(m, make_optimizer(m)) for v, m in models.items()}
        self._records: dict[str, dict[str, Any]] = {}

    # -- the timed phase ---------------------------------------------------------------
    def step(self, variant: str) -> None:
        """One synchronised training step of `variant`: what every timer times."""
        trial = self.trials[variant]
        train_step(trial.model, trial.optimizer, self.batch, self.case.torch_dtype)
        synchronize(self.case.device)

    def guard(self, variant: str, action: Callable[[], object]) -> None:
        """Run `action` for `variant` unless it has failed; record a failure, free memory."""
        trial = self.trials[variant]
        if trial.status != "ok":
            return
        try:
            action()
            return
        except Exception as error:  # one variant's failure must not end the case
            trial.status = "oom" if is_oom(error) else "error"
            trial.message = f"{type(error).__name__}: {error}".splitlines()[0]
        # outside the except clause, so that the traceback's tensors can be freed
        trial.optimizer.zero_grad(set_to_none=True)
        release(self.case.device)

    def _timed_step(self, variant: str) -> None:
        trial = self.trials[variant]
        begin = time.perf_counter()
        before = nvml.energy_mj(self.nvml) if self.nvml else None
        trial.overhead_s += time.perf_counter() - begin
        trial.samples_ms.append(self.timer(lambda: self.step(variant)))
        begin = time.perf_counter()
        after = nvml.energy_mj(self.nvml) if self.nvml else None
        if before is not None and after is not None:
            trial.energy_mj.append(after - before)
        trial.overhead_s += time.perf_counter() - begin

    def run_interleaved(self) -> None:
        """Warm-up, then `rounds` rounds of one timed step per variant, A B C A B C ..."""
        for _ in range(self.case.warmup):
            for variant in self.trials:
                self.guard(variant, lambda v=variant: self.step(v))
        for _ in range(self.case.rounds):
            for variant in self.trials:
                self.guard(variant, lambda v=variant: self._timed_step(v))

    # -- the untimed passes --------------------------------------------------------------
    def _memory_and_saved(self, variant: str, figures: dict[str, Any]) -> None:
        """One full step with the peak reset, NVML sampled and the forward's saves counted."""
        trial, device = self.trials[variant], self.case.device
        tracker = SavedTracker(trial.model)
        result = memory.MemoryResult()
        before = memory.allocated_bytes(device)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()

        def mark(phase: str) -> AbstractContextManager[object]:
            return tracker.track() if phase == "forward" else nullcontext()

        with ExitStack() as stack:
            sampler = stack.enter_context(nvml.Sampler(self.nvml)) if self.nvml else None
            train_step(trial.model, trial.optimizer, self.batch, self.case.torch_dtype, mark)
            synchronize(device)
        peak = None
        if device == "cuda":
            peak = torch.cuda.max_memory_allocated()
            result.peak_allocated, result.peak_reserved = peak, torch.cuda.max_memory_reserved()
        else:
            reason = "the CPU allocator keeps no peak statistics"
            result.absent.update(peak_allocated=reason, peak_reserved=reason)
        if sampler:
            result.nvml_before, result.nvml_peak = sampler.before_bytes, sampler.peak_bytes
            result.nvml_after, result.nvml_method = nvml.memory_used(self.nvml), nvml.SAMPLER_METHOD
            figures["power_mw"] = sampler.power_mw
        else:
            result.absent["nvml"] = self.nvml_reason
        saved = tracker.result
        result.breakdown = memory.breakdown(trial.model, trial.optimizer, saved.bytes or 0, peak)
        result.leak = memory.leak_check(before, memory.allocated_bytes(device), device)
        figures["memory"], figures["saved"] = result, saved

    def _flops(self, variant: str, figures: dict[str, Any]) -> None:
        trial, dtype = self.trials[variant], self.case.torch_dtype
        result = flops.count_step(trial.model, lambda: compute_loss(trial.model, self.batch, dtype))
        trial.optimizer.zero_grad(set_to_none=True)  # counted, not applied
        inputs = (self.batch.latents, self.batch.timesteps, self.batch.context)
        try:
            autocast = torch.autocast(self.case.device, dtype=dtype, enabled=dtype != torch.float32)
            with autocast:
                total, unsupported = flops.fvcore_forward(trial.model, inputs)
            flops.cross_check(result, total, unsupported)
        except Exception as error:  # the cross-check failing leaves the primary figure
            result.absent["fvcore_forward"] = f"fvcore failed: {type(error).__name__}: {error}"
        figures["flops"] = result

    # -- records ---------------------------------------------------------------------------
    def record(self, variant: str) -> dict[str, Any]:
        """The variant's record (measured on first call, after `run_interleaved`)."""
        if variant not in self._records:
            self._records[variant] = self._measure(variant)
        return self._records[variant]

    def _measure(self, variant: str) -> dict[str, Any]:
        trial = self.trials[variant]
        figures: dict[str, Any] = {}
        self.guard(variant, lambda: self._memory_and_saved(variant, figures))
        self.guard(variant, lambda: self._flops(variant, figures))
        record = self._skeleton(variant)
        if trial.status != "ok":
            return record
        timing = TimeResult.from_samples(trial.samples_ms, self.timer.method)
        median = timing.median_ms or 0.0
        record["time"] = timing.to_dict()
        record["overhead"] = self._overhead(trial, median)
        for name in ("memory", "saved", "flops"):
            record[name] = figures[name].to_dict()
        record["energy"] = self._energy(trial, figures, median).to_dict()
        record["efficiency"] = self._efficiency(figures["flops"], median).to_dict()
        record["ratio_to_serial"] = self._ratio(variant)
        return record

    def _skeleton(self, variant: str) -> dict[str, Any]:
        trial = self.trials[variant]
        return {
            "schema": SCHEMA,
            "case": {**asdict(self.case), "variant": variant, "key": self.case.key},
            "config": self.config.to_dict(),
            "environment": self.env,
            "status": trial.status,
            "message": trial.message,
            "shapes": {
                "latents": list(self.batch.latents.shape),
                "context": list(self.batch.context.shape),
            },
            "params": parameter_counts(trial.model),
        }

    def _overhead(self, trial: Trial, median_ms: float) -> dict[str, Any]:
        per_step_ms = 1000 * trial.overhead_s / max(len(trial.samples_ms), 1)
        return {
            "tracker_ms_per_step": per_step_ms,
            "fraction_of_step": per_step_ms / median_ms if median_ms else None,
            "method": "host time spent reading trackers around each timed step",
        }

    def _energy(
        self, trial: Trial, figures: dict[str, Any], median_ms: float
    ) -> energy.EnergyResult:
        if not self.nvml:
            return energy.absent(self.nvml_reason)
        if len(trial.energy_mj) != len(trial.samples_ms):
            return energy.absent("this GPU has no NVML total-energy counter")
        return energy.from_counter(trial.energy_mj, figures.get("power_mw", []), median_ms)

    def _efficiency(
        self, result: flops.FlopsResult, median_ms: float
    ) -> efficiency.EfficiencyResult:
        dtype = self.case.dtype
        if dtype == "fp32" and self.case.device == "cuda" and torch.backends.cuda.matmul.allow_tf32:
            dtype = "tf32"
        gpu = self.env.get("gpu")
        return efficiency.mfu(
            result.total or 0, median_ms, gpu if isinstance(gpu, str) else None, dtype
        )

    def _ratio(self, variant: str) -> dict[str, Any] | None:
        base = self.trials.get(BASELINE)
        if variant == BASELINE or base is None or base.status != "ok":
            return None
        samples = self.trials[variant].samples_ms
        return {"time": ratio_of_medians(samples, base.samples_ms).to_dict()}
