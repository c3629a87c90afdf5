"""The untimed passes of one variant at one shape: memory (twice), saved tensors, FLOPs.

Each pass composes the trackers it needs around one training step. A pass that raises
leaves its figures absent, with the error as the reason: the variant's status and its
timing are not touched (that is the timed step's business).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from mobius_core.measure import flops, memory, nvml
from mobius_core.measure.compiling import graphs_during
from mobius_core.measure.flops import FlopTracker
from mobius_core.measure.memory import MemoryTracker
from mobius_core.measure.results import CompileResult, FlopsResult, MemoryResult, SavedResult
from mobius_core.measure.saved import SavedTracker, with_allocator
from mobius_core.measure.tracker import phase_marks, tracking
from mobius_core.report.record import Case
from mobius_core.run import modes
from mobius_core.run.case import torch_dtype
from mobius_core.run.guard import release
from mobius_core.training.step import Batch, train_step

MEMORY_PASSES = 2  # memory peaks vary a little with fragmentation: measure twice
NO_NVML = "no CUDA device"


@dataclass
class Untimed:
    """What the untimed passes of one variant measured at one shape."""

    memory: MemoryResult
    saved: SavedResult
    flops: FlopsResult
    power_mw: list[int] = field(default_factory=list)  # NVML power during the memory passes
    compile: CompileResult | None = None  # --mode compile: this process's (cold) warm-up


def memory_pass(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    case: Case,
    power_mw: list[int],
) -> tuple[MemoryResult, SavedResult]:
    """One full step under the memory tracker, the forward's saves counted."""
    handle, reason = nvml.open_device() if case.device == "cuda" else (None, NO_NVML)
    saved = SavedTracker(model)
    tensors = list(vars(batch).values())
    eager = case.mode == "eager"  # a compiled step would run op by op under the count
    tracker = MemoryTracker(
        case.device, model, optimizer, tensors, handle, saved, reason, count_live=eager
    )
    marks = phase_marks([tracker])

    @contextmanager
    def mark(phase: str) -> Iterator[None]:  # saves counted in the forward only
        with marks(phase), saved.track() if phase == "forward" else nullcontext():
            yield

    with tracking([tracker]):
        train_step(model, optimizer, batch, torch_dtype(case), mark)
    power_mw.extend(tracker.power_mw)
    counted = with_allocator(saved.result(), tracker.forward_growth, case.device)
    return tracker.result(), counted


def flops_pass(
    model: nn.Module, optimizer: torch.optim.Optimizer, batch: Batch, case: Case
) -> FlopsResult:
    """FLOPs of one whole training step, cross-checked by fvcore on the forward."""
    dtype, tracker = torch_dtype(case), FlopTracker(model)
    with tracking([tracker]):
        train_step(model, optimizer, batch, dtype, phase_marks([tracker]))
    result = tracker.result()
    inputs = (batch.latents, batch.timesteps, batch.context)
    try:
        autocast = torch.autocast(case.device, dtype=dtype, enabled=dtype != torch.float32)
        with autocast:
            total, unsupported = flops.fvcore_forward(model, inputs)
        flops.cross_check(result, total, unsupported)
    except Exception as error:  # the cross-check failing leaves the primary figure
        result.absent["fvcore_forward"] = f"fvcore failed: {type(error).__name__}: {error}"
    return result


def untimed(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    case: Case,
    isolation: str,
    count_flops: bool = True,
) -> Untimed:
    """Every untimed pass of one variant at one shape; failures leave figures absent.

    A compiled `model` (`--mode compile`) is measured as it runs, but its saved bytes have
    no region split and its FLOPs are counted on the eager model (`modes`)."""
    power_mw: list[int] = []
    passes: list[tuple[MemoryResult, SavedResult]] = []
    reason = ""

    def one_pass() -> None:
        try:
            passes.append(memory_pass(model, optimizer, batch, case, power_mw))
        except Exception as error:  # a tracker's failure leaves its figure absent
            nonlocal reason
            reason = f"the memory pass failed: {_first_line(error)}"
        optimizer.zero_grad(set_to_none=True)
        release(case.device)

    compiled, recompiled = modes.compiled(model), 0
    for _ in range(MEMORY_PASSES):
        if compiled:  # a graph compiled here would put compilation in the peak: say so
            recompiled += graphs_during(one_pass)
        else:
            one_pass()
    if passes:
        mem, saved = memory.combine([p[0] for p in passes]), passes[-1][1]
    else:
        mem, saved = MemoryResult(absent={"memory": reason}), SavedResult(absent={"bytes": reason})
    mem.isolation = isolation
    if compiled:
        saved = replace(
            saved, by_region=None, absent={**saved.absent, "by_region": modes.NO_REGIONS}
        )
    if recompiled:
        mem.absent["compile"] = f"{recompiled} graph(s) compiled during the memory passes"
    if not count_flops:
        return Untimed(mem, saved, FlopsResult(absent={"total": "not counted"}), power_mw)
    try:
        counted = flops_pass(modes.eager(model), optimizer, batch, case)
    except Exception as error:  # as above: the FLOP figures are absent, with the reason
        counted = FlopsResult(absent={"total": f"the FLOP pass failed: {_first_line(error)}"})
    if compiled:
        counted.convention += "; " + modes.EAGER_FLOPS
    optimizer.zero_grad(set_to_none=True)
    release(case.device)
    return Untimed(mem, saved, counted, power_mw)


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0]
