"""One case, timed: the variants interleaved in this process, then a record per variant.

The variants of a case are timed interleaved, the order rotating each round (A B C,
B C A, C A B), so that each ratio to the baseline gets a bootstrap interval from paired
rounds and no variant always follows the same one. The untimed figures (memory, saved
tensors, FLOPs) come from the launcher, measured apart; this module only orchestrates:
trackers compose around each timed step, and records are built from their results.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from mobius_core.measure import efficiency, energy, nvml
from mobius_core.measure.compiling import graphs_during, warm_up
from mobius_core.measure.energy import EnergyTracker
from mobius_core.measure.environment import environment
from mobius_core.measure.results import (
    CompileResult,
    OverheadResult,
    ParamCounts,
    RatioResult,
    TimeResult,
)
from mobius_core.measure.stats import ratio_of_medians
from mobius_core.measure.timing import StepTimer
from mobius_core.measure.tracker import tracking
from mobius_core.models.variants import baseline_name, parameter_counts
from mobius_core.report.record import INTERRUPTED, OK, Case, Record
from mobius_core.run import modes
from mobius_core.run.case import config, torch_dtype, variant_info
from mobius_core.run.guard import Failure, guarded
from mobius_core.run.passes import Untimed
from mobius_core.training.devices import synchronize
from mobius_core.training.step import Batch, make_batch, make_optimizer, train_step

CROSS_CHECK = (
    "; cross-check: host perf_counter around each synchronised step, as pytest-benchmark's"
    " pedantic times it (rounds run by the bench API)"
)


@dataclass
class Trial:
    """One variant inside a case run: its model, optimizer and what it has measured."""

    model: nn.Module | None
    optimizer: torch.optim.Optimizer | None
    timer: StepTimer
    energy: EnergyTracker
    cross_ms: list[float] = field(default_factory=list)  # the cross-check's rounds
    failure: Failure | None = None
    compile: CompileResult | None = None  # --mode compile: its warm-up's cost
    timed_graphs: int = 0  # graphs compiled while timed (compile mode)


def rotation(names: list[str], round_index: int) -> list[str]:
    """The order of round `round_index`: A B C, then B C A, then C A B, ..."""
    shift = round_index % len(names) if names else 0
    return names[shift:] + names[:shift]


class CaseRun:
    """Times every variant of one case; `record(variant, untimed)` gives its Record.

    `models` maps each variant to its model, or to the Failure that stopped building it.
    Under `--mode compile` each model runs compiled, from a fresh start at this case's shape
    (`modes.fresh`), and warms up until a step compiles nothing before any timed round.
    """

    def __init__(self, case: Case, models: dict[str, nn.Module | Failure], seed: int = 0) -> None:
        self.case, self.config = case, config(case)
        modes.fresh(case)
        models = {
            v: modes.prepare(m, case) if isinstance(m, nn.Module) else m for v, m in models.items()
        }
        self.env = environment()
        handle, reason = nvml.open_device() if case.device == "cuda" else (None, "no CUDA device")
        self.trials = {
            v: Trial(
                m if isinstance(m, nn.Module) else None,
                make_optimizer(m) if isinstance(m, nn.Module) else None,
                StepTimer(case.device),
                EnergyTracker(handle, reason),
                failure=m if isinstance(m, Failure) else None,
            )
            for v, m in models.items()
        }
        holder: list[Batch] = []
        failure = guarded(
            lambda: holder.append(make_batch(self.config, seed).to(case.device)), case.device
        )
        for trial in self.trials.values():
            trial.failure = trial.failure or failure
        self.batch: Batch | None = holder[0] if holder else None

    def step(self, variant: str) -> None:
        """One synchronised training step of `variant`: what every timer times."""
        trial = self.trials[variant]
        assert trial.model is not None and trial.optimizer is not None and self.batch is not None
        train_step(trial.model, trial.optimizer, self.batch, torch_dtype(self.case))
        synchronize(self.case.device)

    def guard(self, variant: str, action: Callable[[], object]) -> None:
        """Run `action` for `variant` unless it has failed; a failure is recorded."""
        trial = self.trials[variant]
        if trial.failure is None:
            trial.failure = guarded(action, self.case.device)
            if trial.failure is not None and trial.optimizer is not None:
                trial.optimizer.zero_grad(set_to_none=True)

    def _timed(self, variant: str) -> None:
        trial = self.trials[variant]

        def timed() -> None:
            with tracking([trial.energy, trial.timer]):  # the timer innermost: NVML outside
                self.step(variant)

        if self.case.mode == "compile":  # dynamo's counter is read outside the timer
            trial.timed_graphs += graphs_during(timed)
        else:
            timed()

    def _compile(self, variant: str) -> None:
        """Warm `variant` up until a step compiles nothing; its cost kept in the trial."""
        trial = self.trials[variant]
        trial.compile = warm_up(lambda: self.step(variant), modes.BACKEND, self.case.compile_mode)

    def run_interleaved(self, first_round: Callable[[float], None] | None = None) -> None:
        """Warm-up, then `rounds` timed rounds, the order rotating each round.

        `first_round(seconds)` is told how long the first round took (warm-up or timed).
        """
        names = list(self.trials)
        if self.case.mode == "compile":
            for variant in names:
                self.guard(variant, lambda v=variant: self._compile(v))
        for index in range(self.case.warmup + self.case.rounds):
            begin = time.perf_counter()
            for variant in rotation(names, index):
                if index < self.case.warmup:
                    self.guard(variant, lambda v=variant: self.step(v))
                else:
                    self.guard(variant, lambda v=variant: self._timed(v))
            if index == 0 and first_round is not None:
                first_round(time.perf_counter() - begin)

    def cross_check(self, variant: str, rounds: int) -> None:
        """pytest-benchmark's method without pytest: the host clock around each step."""
        trial = self.trials[variant]

        def one() -> None:
            begin = time.perf_counter()
            self.step(variant)
            trial.cross_ms.append(1000 * (time.perf_counter() - begin))

        for _ in range(rounds):
            self.guard(variant, one)

    # -- records ---------------------------------------------------------------------------
    def record(
        self, variant: str, untimed: Untimed, pytest_median_ms: float | None = None
    ) -> Record:
        """The variant's record: `ok` with every figure, or its failure and no figure."""
        trial = self.trials[variant]
        record = Record(
            case=self.case,
            variant=variant_info(variant),
            status=OK,
            config=self.config.to_dict(),
            environment=self.env,
            shapes=self._shapes(),
        )
        if trial.model is not None:
            record.params = ParamCounts(**parameter_counts(trial.model))
        if trial.failure is not None:
            record.status, record.message = trial.failure.status, trial.failure.message
            return record
        timing = trial.timer.result()
        median = timing.median_ms or 0.0
        if trial.cross_ms:
            timing.method += CROSS_CHECK
            pytest_median_ms = TimeResult.from_samples(trial.cross_ms, "").median_ms
        record.time, record.pytest_benchmark_median_ms = timing, pytest_median_ms
        record.memory, record.saved, record.flops = untimed.memory, untimed.saved, untimed.flops
        record.energy = energy.with_power(trial.energy.result(), untimed.power_mw, median)
        record.efficiency = self._efficiency(untimed, median)
        record.overhead = self._overhead(trial, median)
        record.ratio_to_baseline = self._ratio(variant)
        if trial.compile is not None:
            cold = untimed.compile.seconds if untimed.compile is not None else None
            record.compile = replace(
                trial.compile, timed_recompiles=trial.timed_graphs, cold_seconds=cold
            )
        return record

    def interrupted(self, variant: str, untimed: Untimed) -> Record | None:
        """A record of what `variant` measured before Ctrl-C, or None if it timed nothing."""
        trial = self.trials[variant]
        if trial.failure is not None or not trial.timer.samples_ms:
            return None
        record = self.record(variant, untimed)
        record.status, record.message = INTERRUPTED, "interrupted while the case was timed"
        return record

    def _shapes(self) -> dict[str, list[int]]:
        c = self.config
        side = c.resolution // 8
        return {
            "latents": [c.batch, c.latent_channels, c.frames, side, side],
            "context": [c.batch, c.context_len, c.context_dim],
        }

    def _efficiency(self, untimed: Untimed, median_ms: float):
        flops = untimed.flops
        if flops.total is None or not median_ms:
            return efficiency.EfficiencyResult(
                absent={"mfu": "no FLOP count", "hfu": "no FLOP count"}
            )
        dtype = self.case.dtype
        if dtype == "fp32" and self.case.device == "cuda" and torch.backends.cuda.matmul.allow_tf32:
            dtype = "tf32"
        gpu = self.env.get("gpu")
        return efficiency.utilisation(
            flops.total,
            flops.recomputed or 0,
            median_ms,
            gpu if isinstance(gpu, str) else None,
            dtype,
        )

    def _overhead(self, trial: Trial, median_ms: float) -> OverheadResult:
        per_step_ms = 1000 * trial.energy.overhead_s / max(len(trial.timer.samples_ms), 1)
        return OverheadResult(
            tracker_ms_per_step=per_step_ms,
            fraction_of_step=per_step_ms / median_ms if median_ms else None,
        )

    def _ratio(self, variant: str) -> RatioResult | None:
        """The step-time ratio to the baseline, or absent with the reason."""
        name = baseline_name()
        if variant == name:
            return None
        base = self.trials.get(name)
        if base is None:
            return RatioResult(absent={"ratio": f"the baseline {name} was not run in this case"})
        if base.failure is not None:
            return RatioResult(
                absent={"ratio": f"the baseline {name} failed: {base.failure.status}"}
            )
        samples = self.trials[variant].timer.samples_ms
        if len(samples) != len(base.timer.samples_ms):
            return RatioResult(absent={"ratio": "the baseline's rounds are not paired with these"})
        return ratio_of_medians(samples, base.timer.samples_ms)
