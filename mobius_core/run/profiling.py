"""`mobius-bench profile`: where each variant spends its time and memory.

Each variant runs a few steps after warm-up under `torch.profiler`, marked with
`record_function`: the step's phases (forward, backward, optimizer) and, inside the
forward, its regions (`measure.regions`: spatial, temporal, bridges+fusion; a range opens
wherever the running module's region changes, so the ranges never nest). The markers are
forward hooks that exist only while profiling, so the benchmark never runs them. On CUDA
each phase ends with a synchronisation, so that its wall time covers its kernels.

Under `--mode compile` each variant is compiled from scratch and warmed up until a step
compiles nothing, so that no profiled step holds compilation (graphs compiled while
profiled are counted). The phases are marked outside the compiled model; the regions' hooks
are bypassed by the compiled graph, so their split is absent with that reason.

On CUDA every `record_function` range appears twice: as the CPU range, and as a GPU-side
user annotation of the same name spanning its kernels. Wall times come from the CPU
ranges only; kernel sums leave user annotations out, as torch's own table does.
"""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.autograd import DeviceType
from torch.autograd.profiler import record_function
from torch.autograd.profiler_util import EventList, FunctionEvent
from torch.profiler import ProfilerActivity, profile

from mobius_core.measure import compat
from mobius_core.measure.compiling import warm_up
from mobius_core.measure.regions import OTHER, RegionStack
from mobius_core.measure.regions import REGIONS as ALL_REGIONS
from mobius_core.measure.saved import SavedTracker
from mobius_core.report.record import Case
from mobius_core.run import modes
from mobius_core.run.profile_figures import BYPASSED, VariantProfile
from mobius_core.training.devices import synchronize
from mobius_core.training.step import Batch, compute_loss, make_optimizer, train_step

PHASES = ("forward", "backward", "optimizer")
REGIONS = tuple(r for r in ALL_REGIONS if r != OTHER)  # `other`: the forward's remainder
STEP = "mobius/step"
GZIP_ABOVE = 8 * 2**20  # bytes: traces larger than this are written gzipped
KINETO_NOISE = "USDT:"  # kineto's C++ writes these to fd 2 at profiler start and stop


def phase_name(phase: str) -> str:
    return f"mobius/{phase}"


def region_name(region: str) -> str:
    return f"mobius/forward/{region}"


@contextmanager
def region_markers(model: nn.Module) -> Iterator[None]:
    """While entered, a `record_function` range for each stretch of the model's forward
    that stays in one region (its modules' `region`)."""
    open_ranges: list[record_function] = []

    def change(before: str | None, after: str | None) -> None:
        if open_ranges:
            open_ranges.pop().__exit__(None, None, None)
        if after is not None and after != OTHER:
            marker = record_function(region_name(after))
            marker.__enter__()
            open_ranges.append(marker)

    with RegionStack(model, on_change=change).active():
        yield


def phase_marker(device: str) -> Callable[[str], AbstractContextManager[None]]:
    """`mark` for `train_step`: a named range, synchronised at its end on CUDA."""

    @contextmanager
    def mark(phase: str) -> Iterator[None]:
        with record_function(phase_name(phase)):
            yield
            synchronize(device)

    return mark


@contextmanager
def quiet_kineto() -> Iterator[None]:
    """Leave kineto's `USDT:` lines out of stderr; every other line written meanwhile passes.

    Kineto's C++ side writes them straight to file descriptor 2 when the profiler starts
    and stops, and no log level silences them: fd 2 goes to a file while entered.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(x for x in lines if not x.startswith(KINETO_NOISE)))


def _on_cpu(event: FunctionEvent) -> bool:
    return event.device_type == DeviceType.CPU


def cpu_ranges(events: EventList) -> dict[str, list[FunctionEvent]]:
    """Our `record_function` ranges by name, CPU side only (not their GPU annotations)."""
    ranges: dict[str, list[FunctionEvent]] = {}
    for event in events:
        if _on_cpu(event) and event.name.startswith("mobius/"):
            ranges.setdefault(event.name, []).append(event)
    forwards = [e.time_range for e in ranges.get(phase_name("forward"), [])]
    for region in REGIONS:  # checkpointing re-runs modules in backward: not forward
        name = region_name(region)
        ranges[name] = [
            e
            for e in ranges.get(name, [])
            if any(f.start <= e.time_range.start <= f.end for f in forwards)
        ]
    return ranges


def summarise(
    events: EventList, variant: str, steps: int, device: str, regions: bool = True
) -> VariantProfile:
    """Per-step phase, region (when marked: `regions`) and operator times from a finished
    profile's events."""
    ranges = cpu_ranges(events)
    annotations = {e.name for e in events if compat.is_user_annotation(e)}

    def wall_ms(name: str) -> float:
        return sum(e.time_range.elapsed_us() for e in ranges.get(name, [])) / 1000 / steps

    phases = {p: wall_ms(phase_name(p)) for p in PHASES}
    split = {r: wall_ms(region_name(r)) for r in REGIONS} if regions else None
    if split is not None:
        split["other"] = max(phases["forward"] - sum(split.values()), 0.0)
    cuda = device == "cuda"
    averages = [
        a
        for a in events.key_averages()
        if not a.key.startswith(("mobius/", "ProfilerStep")) and a.key not in annotations
    ]
    if cuda:
        averages.sort(key=compat.self_device_us, reverse=True)
    else:
        averages.sort(key=lambda a: a.self_cpu_time_total, reverse=True)
    top = [
        {
            "operator": a.key,
            "calls": a.count // steps,
            "self CPU ms": round(a.self_cpu_time_total / 1000 / steps, 3),
            **({"self CUDA ms": round(compat.self_device_us(a) / 1000 / steps, 3)} if cuda else {}),
        }
        for a in averages[:12]
    ]
    result = VariantProfile(variant, steps, wall_ms(STEP), phases, split, top)
    if cuda:
        kernels = [e for e in events if not _on_cpu(e) and e.name not in annotations]
        result.kernel_ms = sum(e.time_range.elapsed_us() for e in kernels) / 1000 / steps
        # kernels by the CPU op that launched them (any thread: backward runs on its own)
        launches = [
            (e.time_range.start, sum(k.duration for k in e.kernels if k.name not in annotations))
            for e in events
            if _on_cpu(e) and e.kernels
        ]

        def kernel_ms(name: str) -> float:
            spans = [e.time_range for e in ranges.get(name, [])]
            inside = (us for at, us in launches if any(s.start <= at <= s.end for s in spans))
            return sum(inside) / 1000 / steps

        result.phases_kernel_ms = {p: kernel_ms(phase_name(p)) for p in PHASES}
        if regions:
            result.regions_kernel_ms = {r: kernel_ms(region_name(r)) for r in REGIONS}
    return result


def export_trace(prof: profile, path: Path) -> Path:
    """The Chrome/Perfetto trace; gzipped when large. Returns the file written."""
    prof.export_chrome_trace(str(path))
    if path.stat().st_size <= GZIP_ABOVE:
        return path
    zipped = path.with_suffix(".json.gz")
    with path.open("rb") as source, gzip.open(zipped, "wb") as target:
        target.writelines(source)
    path.unlink()
    return zipped


def activities(device: str) -> list[ProfilerActivity]:
    return [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])


def memory_timeline(events: EventList, device: str) -> dict[str, Any]:
    """Allocated memory over the first profiled step, from the profiler's memory events.

    Returns times (ms from the step's start), the net bytes allocated since then, and the
    phases' spans in the same time base.
    """
    ranges = cpu_ranges(events)
    step = min(ranges[STEP], key=lambda e: e.time_range.start)
    start, end = step.time_range.start, step.time_range.end
    changes = sorted(
        (e.time_range.start, compat.self_memory_bytes(e, device))
        for e in events
        if start <= e.time_range.start <= end and compat.self_memory_bytes(e, device)
    )
    times, level, levels = [0.0], 0, [0]
    for when, delta in changes:
        level += delta
        times.append((when - start) / 1000)
        levels.append(level)
    spans = {
        p: ((e.time_range.start - start) / 1000, (e.time_range.end - start) / 1000)
        for p in PHASES
        for e in ranges.get(phase_name(p), [])
        if start <= e.time_range.start <= end
    }
    return {"times_ms": times, "bytes": levels, "spans": spans}


def profile_variant(
    variant: str,
    model: nn.Module,
    batch: Batch,
    dtype: torch.dtype,
    device: str,
    steps: int,
    warmup: int,
    folder: Path,
    execution: Case | None = None,
) -> tuple[VariantProfile, dict[str, Any]]:
    """Profile `steps` steps after `warmup`; write the trace (and on CUDA the snapshot).
    `execution`: the case whose mode and compile mode the steps run under (None: eager);
    a compiled model first warms up until a step compiles nothing.

    Returns the figures and the allocated-memory timeline of the first profiled step.
    """
    compiled, cost = execution is not None and execution.mode == "compile", None
    runs = modes.prepare(model, execution) if execution is not None else model
    optimizer = make_optimizer(runs)
    if execution is not None and compiled:
        modes.fresh(execution)  # compiled from scratch, not from another variant's graphs
        step = partial(train_step, runs, optimizer, batch, dtype)
        cost = warm_up(step, modes.BACKEND, execution.compile_mode)
    for _ in range(warmup):
        train_step(runs, optimizer, batch, dtype)
    synchronize(device)
    cuda = device == "cuda"
    if cuda:
        compat.record_memory_history()
    mark = phase_marker(device)
    prof = profile(activities=activities(device), record_shapes=True, profile_memory=True)
    with quiet_kineto():
        prof.start()
    graphs = compat.dynamo_graphs()
    try:
        with nullcontext() if compiled else region_markers(model):
            for _ in range(steps):
                with record_function(STEP):
                    train_step(runs, optimizer, batch, dtype, mark)
                    synchronize(device)
    finally:
        with quiet_kineto():
            prof.stop()
    events = prof.events()
    result = summarise(events, variant, steps, device, regions=not compiled)
    if cost is not None:
        result.compile = replace(cost, timed_recompiles=compat.dynamo_graphs() - graphs)
        result.absent["regions"] = BYPASSED
    result.files.append(export_trace(prof, folder / f"{variant}-trace.json").name)
    if cuda:
        snapshot = folder / f"{variant}-memory-snapshot.pickle"
        compat.dump_memory_snapshot(snapshot)
        result.files.append(snapshot.name)
    elif compiled:
        result.absent["saved_by_region"] = BYPASSED
    else:
        tracker = SavedTracker(model)
        with tracker.track():
            compute_loss(model, batch, dtype)
        result.saved_by_region = tracker.result().by_region
    return result, memory_timeline(events, device)
