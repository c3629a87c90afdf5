"""Preflight: `tiny` through every path a GPU run depends on, before that run spends its time.

It runs the suite's own code, not copies of it: `run_bench` at one tiny shape for serial and
mobius (each variant's memory, saved-tensor and FLOP passes in a spawned process of its
own; CUDA events around the interleaved steps; allocator peaks; NVML memory, power and
the energy counter; FLOPs under autocast, cross-checked by fvcore), read back through the
run reader, and `write_profile` (torch.profiler with CUDA kernels, the memory snapshot and
the memory timeline). `judge` then checks that each path left its figure: a path that ran
but left its figure absent fails, with the absence's reason. On a CPU the CUDA-only checks
are skipped, each with the reason, so that a rehearsal says what it could not reach.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mobius_core.report.markdown import table
from mobius_core.report.record import OK, Case, Record

if TYPE_CHECKING:
    from torch import nn

    from mobius_core.run.launcher import Launch

Build = Callable[[Case, str], "nn.Module"]

OK_, FAILED, SKIPPED, WARNED = "ok", "FAILED", "skipped", "warn"
VARIANTS = ("serial", "mobius")
SHAPE = {"batch": (1,), "frames": (4,), "resolution": (64,)}
ISOLATED_PREFIX = "a fresh process for this variant (spawn)"  # launcher.ISOLATED's opening
EVENTS_PREFIX = "CUDA events"  # timing.EVENTS's opening
KERNEL_LINE = "Kernel time / wall time: **"  # profile.md's line when CUDA kernels were seen
FVCORE_SPREAD = 0.02  # fvcore and FlopCounterMode agree within this on the forward
NO_CUDA = "no CUDA device here: a CPU rehearsal cannot reach it"


@dataclass(frozen=True)
class Check:
    """One path's verdict: ok, FAILED, skipped (with why) or warn (not fatal)."""

    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"preflight: {self.status:<7} {self.name}: {self.detail}"


Test = Callable[[Record], object]  # truthy when the record's path left its figure
Why = Callable[[Record], str]  # why it did not: the figure's absence reason


def _all(records: list[Record], name: str, test: Test, ok: str, why: Why) -> Check:
    """ok when `test` holds for every record, else FAILED naming the first record that fails
    and `why` (the figure's absence reason)."""
    for r in records:
        if not test(r):
            return Check(name, FAILED, f"{r.case.key} {r.variant.name}: {why(r)}")
    return Check(name, OK_, ok)


def _absent(result: object, *fields: str) -> str:
    reasons = getattr(result, "absent", None) or {}
    found = [f"{f}: {reasons[f]}" for f in fields if f in reasons]
    return "; ".join(found) or f"{', '.join(fields)} absent, no reason given"


def _peaks(r: Record) -> object:
    m = r.memory
    two = m is not None and len(m.peak_allocated_samples or []) >= 2
    return (
        two and m and m.peak_allocated and m.peak_reserved and r.saved and r.saved.allocator_bytes
    )


# name -> (test, what ok means, why not): the paths only a CUDA device reaches
CUDA_CHECKS: dict[str, tuple[Test, str, Why]] = {
    "CUDA events": (
        lambda r: r.time and r.time.method.startswith(EVENTS_PREFIX) and r.time.median_ms,
        "every step timed by CUDA events",
        lambda r: (r.time.method if r.time else "") or _absent(r.time, "median_ms"),
    ),
    "allocator peaks": (
        _peaks,
        "max_memory_allocated/reserved over two passes, saved bytes by the allocator",
        lambda r: (
            f"{len(r.memory.peak_allocated_samples or []) if r.memory else 0} memory pass(es);"
            f" {_absent(r.memory, 'peak_allocated')}; {_absent(r.saved, 'allocator_bytes')}"
        ),
    ),
    "NVML memory": (
        lambda r: r.memory and r.memory.nvml_peak,
        "device memory polled during the step",
        lambda r: _absent(r.memory, "nvml_peak", "nvml_before"),
    ),
    "NVML power": (
        lambda r: r.energy and r.energy.power_watts,
        "power sampled during the memory passes",
        lambda r: _absent(r.energy, "power_joules_per_step", "joules_per_step"),
    ),
    "NVML energy": (
        lambda r: r.energy and r.energy.joules_per_step,
        "the total-energy counter around each timed step",
        lambda r: _absent(r.energy, "joules_per_step"),
    ),
    "FLOPs under autocast": (
        lambda r: r.case.dtype != "fp32" and r.flops and r.flops.total,
        "the step counted under reduced-precision autocast",
        lambda r: f"dtype {r.case.dtype}; {_absent(r.flops, 'total')}",
    ),
}


def _records(records: list[Record]) -> Check:
    failed = [f"{r.variant.name} {r.status}: {r.message}" for r in records if r.status != OK]
    if records and not failed:
        return Check("records", OK_, f"{len(records)} records, all ok")
    return Check("records", FAILED, "; ".join(failed) or "no record written")


def judge_records(records: list[Record], cuda: bool) -> list[Check]:
    """The bench paths' checks from the records the preflight run wrote."""
    checks = [
        _records(records),
        _all(
            records,
            "memory process (spawn)",
            lambda r: r.memory and (r.memory.isolation or "").startswith(ISOLATED_PREFIX),
            "each variant's passes ran in a process of its own",
            lambda r: (r.memory.isolation if r.memory else None) or _absent(r.memory, "memory"),
        ),
        _all(
            records,
            "FLOPs counted",
            lambda r: r.flops and r.flops.total,
            "FlopCounterMode over a whole step",
            lambda r: _absent(r.flops, "total"),
        ),
        _fvcore(records),
    ]
    if not cuda:
        return [*checks, *(Check(name, SKIPPED, NO_CUDA) for name in CUDA_CHECKS)]
    return [*checks, *(_all(records, name, *spec) for name, spec in CUDA_CHECKS.items())]


def _fvcore(records: list[Record]) -> Check:
    """fvcore's cross-check: a warning, not fatal (the primary FLOP count stands alone)."""
    for r in records:
        agreement = r.flops.fvcore_agreement if r.flops else None
        if agreement is None:
            why = _absent(r.flops, "fvcore_forward", "fvcore_agreement")
            return Check("fvcore cross-check", WARNED, f"{r.variant.name}: {why}")
        if abs(agreement - 1) > FVCORE_SPREAD:
            return Check(
                "fvcore cross-check", WARNED, f"{r.variant.name}: agreement {agreement:.3f}"
            )
    return Check("fvcore cross-check", OK_, f"within {FVCORE_SPREAD:.0%} for every variant")


def judge_profile(folder: Path, variants: tuple[str, ...], cuda: bool) -> list[Check]:
    """The profiler's checks from the folder `write_profile` filled."""
    report = folder / "profile.md"
    traces = [v for v in variants if not any(folder.glob(f"{v}-trace.json*"))]
    if not report.is_file() or traces:
        missing = "profile.md" if not report.is_file() else f"traces of {', '.join(traces)}"
        checks = [Check("profiler", FAILED, f"no {missing} in {folder}")]
    else:
        checks = [Check("profiler", OK_, f"profile.md and a trace per variant in {folder.name}/")]
    if not cuda:
        skipped = ("profiler CUDA kernels", "memory snapshot")
        return [*checks, *(Check(name, SKIPPED, NO_CUDA) for name in skipped)]
    text = report.read_text() if report.is_file() else ""
    kernels = text.count(KERNEL_LINE)
    checks.append(
        Check("profiler CUDA kernels", OK_, "kernel time over wall time for every variant")
        if kernels == len(variants)
        else Check("profiler CUDA kernels", FAILED, f"{kernels} of {len(variants)} variants")
    )
    empty = [
        v
        for v in variants
        if not (folder / f"{v}-memory-snapshot.pickle").is_file()
        or (folder / f"{v}-memory-snapshot.pickle").stat().st_size == 0
    ]
    timeline = (folder / "memory_timeline.png").is_file()
    checks.append(
        Check("memory snapshot", OK_, "a snapshot per variant and memory_timeline.png")
        if not empty and timeline
        else Check(
            "memory snapshot",
            FAILED,
            f"no snapshot for {', '.join(empty)}" if empty else "no memory_timeline.png",
        )
    )
    return checks


def verdict(checks: list[Check]) -> str:
    """The one-line outcome: passed (with what was skipped), or the first failure."""
    failed = [c for c in checks if c.status == FAILED]
    if failed:
        return f"preflight: FAILED: {failed[0].name}: {failed[0].detail}"
    skipped = [c.name for c in checks if c.status == SKIPPED]
    warned = [c.name for c in checks if c.status == WARNED]
    tail = f"; skipped ({NO_CUDA}): {', '.join(skipped)}" if skipped else ""
    tail += f"; warnings: {', '.join(warned)}" if warned else ""
    return f"preflight: passed, {sum(c.status == OK_ for c in checks)} checks ok{tail}"


def markdown(checks: list[Check], seconds: float, device: str) -> str:
    rows = [{"check": c.name, "status": c.status, "detail": c.detail} for c in checks]
    return (
        f"# preflight\n\n`tiny` through every path of a GPU run, on {device}, in"
        f" {seconds:.1f} s.\n\n{table(rows)}\n\n{verdict(checks)}\n"
    )


def device_check(device: str) -> Check:
    """The CUDA device itself: its name and the versions it runs under."""
    import torch

    if device != "cuda":
        return Check("CUDA device", SKIPPED, NO_CUDA)
    if not torch.cuda.is_available():
        return Check("CUDA device", FAILED, f"torch {torch.__version__} sees no CUDA device")
    return Check(
        "CUDA device",
        OK_,
        f"{torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}",
    )


def run_preflight(
    device: str, folder: Path, launch: Launch | None = None, build: Build | None = None
) -> list[Check]:
    """The preflight run into `folder` (`run.json`, `profile/`), and every check on it.
    `launch` and `build` replace the suite's (tests use stand-ins)."""
    from mobius_core.models.config import preset
    from mobius_core.report.runs import load
    from mobius_core.run.bench import run_bench
    from mobius_core.run.case import build_variant
    from mobius_core.run.launcher import isolated
    from mobius_core.run.matrix import Options
    from mobius_core.run.profile_report import write_profile
    from mobius_core.training.devices import DTYPES

    cuda = device == "cuda"
    dtype = "bf16" if cuda else "fp32"
    checks = [device_check(device)]
    if checks[0].status == FAILED:
        return checks
    options = Options(device, "tiny", variants=VARIANTS, dtype=dtype, rounds=2, warmup=1, **SHAPE)  # type: ignore[arg-type]
    run_json = folder / "run.json"
    try:
        run_bench(options, run_json, launch or isolated, lambda _: None, build or build_variant)
        checks += judge_records(load(run_json).records, cuda)  # type: ignore[arg-type]
    except Exception as error:  # any failure of the path is the check's verdict
        checks.append(Check("bench", FAILED, _first_line(error)))
    profile = folder / "profile"
    profile.mkdir()
    config = preset("tiny", **{k: v[0] for k, v in SHAPE.items()})
    try:
        write_profile(config, list(VARIANTS), device, DTYPES[dtype], 1, 1, profile)
        checks += judge_profile(profile, VARIANTS, cuda)
    except Exception as error:
        checks.append(Check("profiler", FAILED, _first_line(error)))
    return checks


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0]
