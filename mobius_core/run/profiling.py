"""`mobius-bench profile`: where each variant spends its time and memory.

Each variant runs a few steps after warm-up under `torch.profiler`, marked with
`record_function`: the step's phases (forward, backward, optimizer) and, inside the
forward, its regions (spatial/trunk, temporal, bridges, fusion; region markers are forward
hooks that exist only while profiling, so the benchmark never runs them). On CUDA each
phase ends with a synchronisation, so that its wall time covers its kernels.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.autograd.profiler import record_function
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.profiler import ProfilerActivity, profile

from mobius_core.measure.saved import SavedTracker
from mobius_core.models.layers import Downsample, TimestepEmbedding, Upsample
from mobius_core.models.mobius import Bridge, Fusion
from mobius_core.models.spatial import ResBlock2D, SpatialTransformer
from mobius_core.models.temporal import TemporalTransformer
from mobius_core.models.unet import UNet
from mobius_core.training.devices import synchronize
from mobius_core.training.step import Batch, compute_loss, make_optimizer, train_step

PHASES = ("forward", "backward", "optimizer")
REGIONS = ("spatial", "temporal", "bridges", "fusion")
STEP = "mobius/step"
LAUNCH_BOUND_BELOW = 0.8  # kernel time / wall time under this: the GPU waits on launches
GZIP_ABOVE = 8 * 2**20  # bytes: traces larger than this are written gzipped


def phase_name(phase: str) -> str:
    return f"mobius/{phase}"


def region_name(region: str) -> str:
    return f"mobius/forward/{region}"


_REGION_OF: tuple[tuple[type[nn.Module], str], ...] = (
    (TemporalTransformer, "temporal"),
    (Bridge, "bridges"),
    (Fusion, "fusion"),
    (ResBlock2D, "spatial"),
    (SpatialTransformer, "spatial"),
    (Downsample, "spatial"),
    (Upsample, "spatial"),
    (TimestepEmbedding, "spatial"),
)


def marked_modules(model: nn.Module) -> dict[int, str]:
    """id(module) -> region, for modules that do not nest inside one another."""
    marked = {}
    for module in model.modules():
        for kind, region in _REGION_OF:
            if isinstance(module, kind):
                marked[id(module)] = region
        if isinstance(module, UNet):  # the stem and head convolutions of the 2D UNet
            for head in (module.conv_in, module.conv_norm_out, module.conv_out):
                marked[id(head)] = "spatial"
    return marked


@contextmanager
def region_markers(model: nn.Module) -> Iterator[None]:
    """A `record_function` range around every forward of a marked module, while entered."""
    marked = marked_modules(model)
    open_ranges: list[AbstractContextManager[Any]] = []

    def enter(module: nn.Module, args: Any) -> None:
        if id(module) in marked:
            rf = record_function(region_name(marked[id(module)]))
            rf.__enter__()
            open_ranges.append(rf)

    def leave(module: nn.Module, args: Any, output: Any) -> None:
        if id(module) in marked and open_ranges:
            open_ranges.pop().__exit__(None, None, None)

    pre = register_module_forward_pre_hook(enter)
    post = register_module_forward_hook(leave, always_call=True)
    try:
        yield
    finally:
        pre.remove()
        post.remove()


def phase_marker(device: str) -> Callable[[str], AbstractContextManager[None]]:
    """`mark` for `train_step`: a named range, synchronised at its end on CUDA."""

    @contextmanager
    def mark(phase: str) -> Iterator[None]:
        with record_function(phase_name(phase)):
            yield
            synchronize(device)

    return mark


@dataclass
class VariantProfile:
    """Per-step figures of one variant's profiled steps."""

    variant: str
    steps: int
    step_ms: float
    phases_ms: dict[str, float]
    regions_ms: dict[str, float]  # inside the forward; `other` is the forward's remainder
    top_ops: list[dict[str, Any]]
    kernel_ms: float | None = None  # summed kernel time per step (CUDA)
    phases_kernel_ms: dict[str, float] | None = None
    regions_kernel_ms: dict[str, float] | None = None
    saved_by_region: dict[str, int] | None = None
    files: list[str] = field(default_factory=list)

    @property
    def kernel_ratio(self) -> float | None:
        return None if self.kernel_ms is None else self.kernel_ms / self.step_ms

    @property
    def bound(self) -> str | None:
        ratio = self.kernel_ratio
        if ratio is None:
            return None
        return "GPU-bound" if ratio >= LAUNCH_BOUND_BELOW else "launch-bound"


def _device_us(event: Any, attribute: str) -> float:
    """Device time of a profiler event (the attribute was renamed from cuda to device)."""
    return float(getattr(event, attribute, getattr(event, attribute.replace("device", "cuda"), 0)))


def summarise(prof: profile, variant: str, steps: int, device: str) -> VariantProfile:
    """Per-step phase, region and operator times from a finished profile."""
    events = prof.events()
    ranges: dict[str, list[Any]] = {}
    for event in events:
        if event.name.startswith("mobius/"):
            ranges.setdefault(event.name, []).append(event)

    def wall_ms(name: str) -> float:
        return sum(e.time_range.elapsed_us() for e in ranges.get(name, [])) / 1000 / steps

    def kernel_ms(name: str) -> float:
        return sum(_device_us(e, "device_time_total") for e in ranges.get(name, [])) / 1000 / steps

    phases = {p: wall_ms(phase_name(p)) for p in PHASES}
    forwards = [e.time_range for e in ranges.get(phase_name("forward"), [])]
    for region in REGIONS:  # checkpointing re-runs marked modules in backward: not forward
        name = region_name(region)
        ranges[name] = [
            e
            for e in ranges.get(name, [])
            if any(f.start <= e.time_range.start <= f.end for f in forwards)
        ]
    regions = {r: wall_ms(region_name(r)) for r in REGIONS}
    regions["other"] = max(phases["forward"] - sum(regions.values()), 0.0)
    cuda = device == "cuda"
    sort_key = "self_device_time_total" if cuda else "self_cpu_time_total"
    ops = [a for a in prof.key_averages() if not a.key.startswith(("mobius/", "ProfilerStep"))]
    ops.sort(key=lambda a: _device_us(a, sort_key) if cuda else a.self_cpu_time_total, reverse=True)
    top = [
        {
            "operator": a.key,
            "calls": a.count // steps,
            "self CPU ms": round(a.self_cpu_time_total / 1000 / steps, 3),
            **({"self CUDA ms": round(_device_us(a, sort_key) / 1000 / steps, 3)} if cuda else {}),
        }
        for a in ops[:12]
    ]
    result = VariantProfile(variant, steps, wall_ms(STEP), phases, regions, top)
    if cuda:
        total = sum(_device_us(a, "self_device_time_total") for a in prof.key_averages())
        result.kernel_ms = total / 1000 / steps
        forward, optimizer = kernel_ms(phase_name("forward")), kernel_ms(phase_name("optimizer"))
        result.phases_kernel_ms = {
            "forward": forward,
            "backward": max(result.kernel_ms - forward - optimizer, 0.0),
            "optimizer": optimizer,
        }
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


def memory_timeline(prof: profile, device: str) -> dict[str, Any]:
    """Allocated memory over the first profiled step, from the profiler's memory events.

    Returns times (ms from the step's start), the net bytes allocated since then, and the
    phases' spans in the same time base.
    """
    events = prof.events()
    step = min((e for e in events if e.name == STEP), key=lambda e: e.time_range.start)
    start, end = step.time_range.start, step.time_range.end
    field_name = "self_device_memory_usage" if device == "cuda" else "self_cpu_memory_usage"
    changes = sorted(
        (e.time_range.start, getattr(e, field_name, 0))
        for e in events
        if start <= e.time_range.start <= end and getattr(e, field_name, 0)
    )
    times, level, levels = [0.0], 0, [0]
    for when, delta in changes:
        level += delta
        times.append((when - start) / 1000)
        levels.append(level)
    spans = {
        p: ((e.time_range.start - start) / 1000, (e.time_range.end - start) / 1000)
        for p in PHASES
        for e in events
        if e.name == phase_name(p) and start <= e.time_range.start <= end
    }
    return {"times_ms": times, "bytes": levels, "spans": spans}


def record_snapshot_start() -> None:
    torch.cuda.memory._record_memory_history(max_entries=200_000)


def record_snapshot_dump(path: Path) -> None:
    torch.cuda.memory._dump_snapshot(str(path))
    torch.cuda.memory._record_memory_history(enabled=None)


def profile_variant(
    variant: str,
    model: nn.Module,
    batch: Batch,
    dtype: torch.dtype,
    device: str,
    steps: int,
    warmup: int,
    folder: Path,
) -> tuple[VariantProfile, dict[str, Any]]:
    """Profile `steps` steps after `warmup`; write the trace (and on CUDA the snapshot).

    Returns the figures and the allocated-memory timeline of the first profiled step.
    """
    optimizer = make_optimizer(model)
    for _ in range(warmup):
        train_step(model, optimizer, batch, dtype)
    synchronize(device)
    cuda = device == "cuda"
    if cuda:
        record_snapshot_start()
    mark = phase_marker(device)
    with (
        profile(activities=activities(device), record_shapes=True, profile_memory=True) as prof,
        region_markers(model),
    ):
        for _ in range(steps):
            with record_function(STEP):
                train_step(model, optimizer, batch, dtype, mark)
                synchronize(device)
    result = summarise(prof, variant, steps, device)
    result.files.append(export_trace(prof, folder / f"{variant}-trace.json").name)
    if cuda:
        snapshot = folder / f"{variant}-memory-snapshot.pickle"
        record_snapshot_dump(snapshot)
        result.files.append(snapshot.name)
    else:
        tracker = SavedTracker(model)
        with tracker.track():
            compute_loss(model, batch, dtype)
        result.saved_by_region = tracker.result.by_region
    return result, memory_timeline(prof, device)
