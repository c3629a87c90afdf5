"""One ddp or fsdp case, measured on every rank; rank 0 gets a record per variant.

A spawned memory process cannot join the process group, so each rank measures the variants
one after another, each alone on its device: rank 0 first times it at world size 1 (eager,
no collective; the other ranks wait), then every rank builds it, wraps it (DDP or FSDP2,
`dist_wrap`), warms it up, counts one step's collectives, runs the untimed passes (memory
twice, saved tensors, FLOPs) on the wrapped step, and times it over synchronised rounds: a
monitored barrier releases the ranks together, each times its own step, and the round's
time is the largest (all_reduce MAX). Then the variant is freed and the memory released
before the next. Rank 0 writes the record: its own figures (memory, saved tensors, FLOPs,
collective bytes, all counted on rank 0), the rounds' times as the largest over the ranks,
and of every rank only its median step time and its peak memory (all_gather_object:
`rank_median_ms`, `rank_peak_bytes`). No other rank's record is sent.

A failure while building is that variant's record on every rank (the ranks agree before
any collective); a failure after the wrap, inside a collective step, ends the run: the
rank raises and the launcher ends every rank, naming it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from mobius_core.measure.memory import local
from mobius_core.measure.results import (
    DistributedResult,
    ParamCounts,
    RatioResult,
    TimeResult,
)
from mobius_core.measure.stats import ratio_of_medians
from mobius_core.models.variants import baseline_name, parameter_counts
from mobius_core.report.record import Case, Record
from mobius_core.run import distributed
from mobius_core.run.case import build_variant, config, torch_dtype
from mobius_core.run.dist_wrap import COMM_METHOD, CommCounter, fsdp_units, ignored_names, wrap
from mobius_core.run.distributed import World
from mobius_core.run.guard import Failure, guarded, release
from mobius_core.run.passes import Untimed, untimed
from mobius_core.run.runner import CaseRun
from mobius_core.training.devices import synchronize
from mobius_core.training.step import make_batch, make_optimizer, train_step

ISOLATION = (
    "in each rank's own process, the variant alone on its device: built, measured, timed and"
    " freed before the next variant (a spawned memory process cannot join the process group)"
)
TIME_METHOD = (
    "max over ranks of each round (all_reduce MAX): a monitored barrier releases the ranks"
    " together, each times its own synchronised step ({clock}); variants run one after"
    " another, not interleaved"
)
SCALING_METHOD = (
    "world-size-1 median / this case's median (per-rank batch fixed, so 1.0 is perfect"
    " weak scaling): rank 0 timed the same variant and shape eager at world size 1, alone,"
    " just before, while the other ranks waited"
)
RATIO_METHOD = "; unpaired (the variants ran one after another, not interleaved)"
STEADY = 2  # warm-up steps before counting: DDP rebuilds its buckets on the second step
CPU_NOTE = "gloo on CPU: a correctness check of the distributed step, not a performance claim"
PEAK_METHOD = {
    "cuda": "torch.cuda.max_memory_allocated over one step, in each rank",
    "cpu": "a proxy in each rank: its own parameter, gradient and AdamW bytes (its shards"
    " under FSDP) and the bytes saved for backward (under FSDP these include gathered"
    " weights a layer saves)",
}

Build = Callable[[Case, str], nn.Module]


def measure_case(case: Case, variants: list[str], world: World, build: Build = build_variant):
    """Every variant of `case`, one after another; rank 0 gets their records (others: [])."""
    records = []
    for variant in variants:
        ranked = prepare(case, variant, world, build)
        if isinstance(ranked, RankedVariant):
            for _ in range(case.rounds):
                ranked.round()
            records.append(ranked.finish())
        else:
            records.append(ranked)
    if not world.leader:
        return []
    set_ratios(records)
    return records


def prepare(case: Case, variant: str, world: World, build: Build = build_variant):
    """`variant` ready to time on every rank: its world-size-1 reference (rank 0), then built,
    wrapped, warmed up, its collectives counted and its untimed passes run. A failure to
    build is its record instead (on every rank)."""
    world1 = _world1(case, variant, world, build)
    model = build_on_ranks(case, variant, build)
    if isinstance(model, Failure):  # no collective has run: every rank records it, goes on
        return _failed(case, variant, model.status, model.message)
    return RankedVariant(case, variant, world, model, world1)


class RankedVariant:
    """One variant wrapped on this rank, timed round by round (`round`), then its record
    (`finish`, which frees it). Every rank calls the same methods in the same order."""

    def __init__(
        self, case: Case, variant: str, world: World, model: nn.Module, world1: list[float] | str
    ) -> None:
        self.case, self.variant, self.world, self.world1 = case, variant, world, world1
        self.counts = parameter_counts(model)
        self.wrapping = _wrapping(model, case.mode)
        wrapped = wrap(model, case.mode, case.device)
        self.run = CaseRun(case, {variant: wrapped}, seed=world.rank)  # each rank its own data
        trial = self.run.trials[variant]
        if trial.failure is not None:  # the batch: made before any collective
            raise RuntimeError(f"rank {world.rank}: {trial.failure.message}")
        trial.optimizer = make_optimizer(wrapped)
        for _ in range(max(case.warmup, STEADY)):
            self.run.step(variant)
        self.counter = CommCounter()
        with self.counter:
            self.run.step(variant)
        assert self.run.batch is not None
        self.passes = untimed(wrapped, trial.optimizer, self.run.batch, case, ISOLATION)
        self.max_ms: list[float] = []  # each timed round's largest step time over the ranks

    def round(self) -> None:
        """One synchronised round: a monitored barrier releases the ranks together, each
        times its own step, and the round's time is the largest (all_reduce MAX)."""
        from mobius_core.measure.tracker import tracking

        trial = self.run.trials[self.variant]
        distributed.monitored_barrier(self.world)
        with tracking([trial.energy, trial.timer]):
            self.run.step(self.variant)
        self.max_ms.append(distributed.max_over_ranks(trial.timer.samples_ms[-1], self.case.device))

    def finish(self, pytest_median_ms: float | None = None) -> Record:
        """The record (every rank's median and peak gathered), then the variant freed."""
        trial = self.run.trials[self.variant]
        record = self.run.record(self.variant, self.passes, pytest_median_ms)
        record.params = ParamCounts(**self.counts)
        method = TIME_METHOD.format(clock=trial.timer.method)
        record.time = TimeResult.from_samples(self.max_ms, method)
        own = trial.timer.result()
        assert trial.model is not None and trial.optimizer is not None
        peak = _peak(self.passes, trial.model, trial.optimizer, self.case.device)
        every = distributed.gather((own.median_ms or 0.0, peak))
        peaks = [p for _, p in every]
        record.distributed = DistributedResult(
            world_size=self.world.size,
            backend=self.world.backend,
            wrapping=self.wrapping,
            rank_median_ms=[m for m, _ in every],
            rank_peak_bytes=peaks if all(p is not None for p in peaks) else None,
            rank_peak_max=max((p for p in peaks if p is not None), default=None),
            rank_peak_method=PEAK_METHOD.get(self.case.device),
            comm_bytes=self.counter.total,
            comm_by_collective=dict(self.counter.bytes),
            comm_calls=dict(self.counter.calls),
            comm_method=COMM_METHOD,
            note=CPU_NOTE if self.case.device == "cpu" else None,
            absent={} if all(p is not None for p in peaks) else {"rank_peak_bytes": "no peak"},
        )
        _scale(record.distributed, self.world1, record.time.median_ms)
        del self.run, self.passes, trial
        release(self.case.device)
        return record


def build_on_ranks(case: Case, variant: str, build: Build = build_variant) -> nn.Module | Failure:
    """`variant` built on every rank; where any rank failed, every rank gets the first such
    failure (its message names the rank) and holds no model, so that all go on together."""
    holder: list[nn.Module] = []
    failure = guarded(lambda: holder.append(build(case, variant)), case.device)
    every = distributed.gather(failure)
    failed = next(((r, f) for r, f in enumerate(every) if f is not None), None)
    if failed is None:
        return holder.pop()
    holder.clear()
    release(case.device)
    rank, first = failed
    return replace(first, message=f"rank {rank}: {first.message}")


def _world1(case: Case, variant: str, world: World, build: Build) -> list[float] | str:
    """Rank 0 times `variant` eager at world size 1, alone; its step times in ms (on rank 0),
    or why there are none. The other ranks wait at a barrier meanwhile."""
    samples: list[float] | str = "measured on rank 0 only"
    if world.leader:
        alone = replace(case, mode="eager", world_size=1)
        holder: list[float] = []
        failure = guarded(lambda: holder.extend(_time_alone(alone, variant, build)), case.device)
        samples = holder if failure is None else f"world size 1 failed: {failure.message}"
        release(case.device)
    distributed.monitored_barrier(world)
    return samples


def _time_alone(case: Case, variant: str, build: Build) -> list[float]:
    model = build(case, variant)
    optimizer = make_optimizer(model)
    batch = make_batch(config(case), 0).to(case.device)
    dtype = torch_dtype(case)
    for _ in range(max(case.warmup, 1)):
        train_step(model, optimizer, batch, dtype)
    synchronize(case.device)
    samples = []
    for _ in range(case.rounds):
        begin = time.perf_counter()
        train_step(model, optimizer, batch, dtype)
        synchronize(case.device)
        samples.append(1000 * (time.perf_counter() - begin))
    return samples


def _scale(result: DistributedResult, world1: list[float] | str, median_ms: float | None) -> None:
    if isinstance(world1, str):
        result.absent["scaling_efficiency"] = world1
        return
    alone = TimeResult.from_samples(world1, "")
    result.world1_samples_ms = world1
    result.world1_median_ms = alone.median_ms
    if alone.median_ms and median_ms:
        result.scaling_efficiency = alone.median_ms / median_ms
        result.scaling_method = SCALING_METHOD


def _peak(passes: Untimed, model: nn.Module, optimizer, device: str) -> int | None:
    """This rank's peak: the allocator's on CUDA; on CPU a proxy, this rank's own parameter,
    gradient and optimizer bytes (its shards under FSDP) and the bytes saved for backward."""
    if device == "cuda":
        return passes.memory.peak_allocated
    if passes.saved.bytes is None:
        return None
    params = sum(_local_bytes(p) for p in model.parameters())
    grads = sum(_local_bytes(p) for p in model.parameters() if p.requires_grad)
    states = sum(
        _local_bytes(v)
        for state in optimizer.state.values()
        for v in state.values()
        if isinstance(v, torch.Tensor) and v.dim() > 0
    )
    return params + grads + states + passes.saved.bytes


def _local_bytes(tensor: torch.Tensor) -> int:
    """Bytes this rank holds of `tensor`: its shard when it is a DTensor."""
    shard = local(tensor)
    return shard.numel() * shard.element_size()


def _wrapping(model: nn.Module, mode: str) -> str:
    """What the wrapper holds: said in the record, worked out before wrapping."""
    if mode == "ddp":
        trainable = sum(1 for p in model.parameters() if p.requires_grad)
        ignored = len(ignored_names(model))
        return (
            f"DDP over the {trainable} trainable parameter tensors only; {ignored} frozen"
            " parameters and buffers ignored (never broadcast or reduced);"
            " find_unused_parameters=False"
        )
    units = len(fsdp_units(model))
    if not units:
        return "FSDP2 fully_shard: the root unit only (this variant has no UNet Layer)"
    return (
        f"FSDP2 fully_shard: {units} units (each UNet layer, frozen and trainable weights"
        " alike, and each motion module outside a layer) and the root; reshard after forward"
    )


def _failed(case: Case, variant: str, status: str, message: str) -> Record:
    from mobius_core.measure.environment import environment
    from mobius_core.run.case import variant_info

    return Record(
        case=case,
        variant=variant_info(variant),
        status=status,
        message=message,
        config=config(case).to_dict(),
        environment=environment(),
    )


def set_ratios(records: list[Record]) -> None:
    """Each variant's median over the baseline's, unpaired (they ran one after another)."""
    base = next((r for r in records if r.variant.name == baseline_name()), None)
    for record in records:
        if record is base or record.time is None:
            continue
        if base is None or base.time is None or not base.time.samples_ms:
            record.ratio_to_baseline = RatioResult(absent={"ratio": "the baseline has no time"})
            continue
        ratio = ratio_of_medians(record.time.samples_ms or [], base.time.samples_ms, paired=False)
        ratio.method = (ratio.method or "") + RATIO_METHOD
        record.ratio_to_baseline = ratio
