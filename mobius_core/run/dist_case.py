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
    records = [_variant(case, v, world, build) for v in variants]
    if not world.leader:
        return []
    _set_ratios(records)
    return records


def _variant(case: Case, variant: str, world: World, build: Build) -> Record:
    world1 = _world1(case, variant, world, build)
    model = build_on_ranks(case, variant, build)
    if isinstance(model, Failure):  # no collective has run: every rank records it, goes on
        return _failed(case, variant, model.status, model.message)
    counts = parameter_counts(model)
    wrapping = _wrapping(model, case.mode)
    wrapped = wrap(model, case.mode, case.device)
    run = CaseRun(case, {variant: wrapped}, seed=world.rank)  # each rank its own data
    if run.trials[variant].failure is not None:  # the batch: made before any collective
        raise RuntimeError(f"rank {world.rank}: {run.trials[variant].failure.message}")
    run.trials[variant].optimizer = make_optimizer(wrapped)
    for _ in range(max(case.warmup, STEADY)):
        run.step(variant)
    counter = CommCounter()
    with counter:
        run.step(variant)
    trial = run.trials[variant]
    assert trial.optimizer is not None and run.batch is not None
    passes = untimed(wrapped, trial.optimizer, run.batch, case, ISOLATION)
    max_ms = _timed_rounds(run, variant, world)
    record = run.record(variant, passes)
    record.params = ParamCounts(**counts)
    record.time = TimeResult.from_samples(max_ms, TIME_METHOD.format(clock=trial.timer.method))
    own = trial.timer.result()
    mine = (own.median_ms or 0.0, _peak(passes, wrapped, trial.optimizer, case.device))
    every = distributed.gather(mine)
    record.distributed = DistributedResult(
        world_size=world.size,
        backend=world.backend,
        wrapping=wrapping,
        rank_median_ms=[m for m, _ in every],
        rank_peak_bytes=[p for _, p in every] if all(p is not None for _, p in every) else None,
        rank_peak_max=max((p for _, p in every if p is not None), default=None),
        rank_peak_method=PEAK_METHOD.get(case.device),
        comm_bytes=counter.total,
        comm_by_collective=dict(counter.bytes),
        comm_calls=dict(counter.calls),
        comm_method=COMM_METHOD,
        note=CPU_NOTE if case.device == "cpu" else None,
        absent={} if all(p is not None for _, p in every) else {"rank_peak_bytes": "no peak"},
    )
    _scale(record.distributed, world1, record.time.median_ms)
    del run, wrapped, model, trial, passes
    release(case.device)
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


def _timed_rounds(run: CaseRun, variant: str, world: World) -> list[float]:
    """`rounds` synchronised rounds; each round's largest step time over the ranks, in ms."""
    from mobius_core.measure.tracker import tracking

    trial, device = run.trials[variant], run.case.device
    out = []
    for _ in range(run.case.rounds):
        distributed.monitored_barrier(world)
        with tracking([trial.energy, trial.timer]):
            run.step(variant)
        out.append(distributed.max_over_ranks(trial.timer.samples_ms[-1], device))
    return out


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


def _set_ratios(records: list[Record]) -> None:
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
