"""Preflight's judgement, from hand-made records and profile folders: what a CUDA run that
reached every path leaves, each path's absence failing its own check by name, and a CPU
rehearsal skipping the CUDA-only checks with the reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mobius_core.measure.results import (
    EnergyResult,
    FlopsResult,
    MemoryResult,
    SavedResult,
    TimeResult,
)
from mobius_core.measure.timing import EVENTS, HOST_CLOCK
from mobius_core.report.record import Case, Record, VariantInfo
from mobius_core.run.launcher import CO_RESIDENT, ISOLATED
from mobius_core.run.preflight import (
    CUDA_CHECKS,
    FAILED,
    KERNEL_LINE,
    NO_CUDA,
    OK_,
    SKIPPED,
    WARNED,
    judge_profile,
    judge_records,
    verdict,
)

CASE = Case("tiny", 1, 4, 64, "bf16", "cuda", 2, 1)
VARIANTS = ("serial", "mobius")


def _record(variant: str, **changes: object) -> Record:
    """A record with every figure a CUDA preflight fills; `changes` replace results."""
    parts: dict[str, object] = {
        "time": TimeResult.from_samples([5.0, 6.0], EVENTS),
        "memory": MemoryResult(
            peak_allocated=100,
            peak_allocated_samples=[100, 99],
            peak_reserved=120,
            nvml_peak=500,
            isolation=ISOLATED,
        ),
        "saved": SavedResult(bytes=40, allocator_bytes=42),
        "flops": FlopsResult(total=1000, fvcore_forward=400, fvcore_agreement=1.0),
        "energy": EnergyResult(joules_per_step=0.5, power_watts=80.0),
    }
    parts.update(changes)
    return Record(CASE, VariantInfo(variant, baseline=variant == "serial"), "ok", **parts)  # type: ignore[arg-type]


def _status(checks: list, name: str) -> tuple[str, str]:
    check = next(c for c in checks if c.name == name)
    return check.status, check.detail


def test_a_cuda_run_that_reached_every_path_passes_every_check() -> None:
    checks = judge_records([_record(v) for v in VARIANTS], cuda=True)
    assert {c.name for c in checks} >= set(CUDA_CHECKS)
    assert all(c.status == OK_ for c in checks), checks
    assert verdict(checks).startswith("preflight: passed, 10 checks ok")


@pytest.mark.parametrize(
    ("name", "changes", "reason"),
    [
        ("CUDA events", {"time": TimeResult.from_samples([5.0], HOST_CLOCK)}, "host perf_counter"),
        (
            "allocator peaks",
            {
                "memory": MemoryResult(
                    nvml_peak=5, isolation=ISOLATED, absent={"peak_allocated": "no CUDA"}
                )
            },
            "peak_allocated: no CUDA",
        ),
        (
            "NVML memory",
            {
                "memory": MemoryResult(
                    peak_allocated=1,
                    peak_allocated_samples=[1, 1],
                    peak_reserved=1,
                    isolation=ISOLATED,
                    absent={"nvml_peak": "NVML unavailable"},
                )
            },
            "nvml_peak: NVML unavailable",
        ),
        (
            "NVML energy",
            {"energy": EnergyResult(power_watts=80.0, absent={"joules_per_step": "no counter"})},
            "no counter",
        ),
        ("NVML power", {"energy": EnergyResult(joules_per_step=0.5)}, "absent"),
        (
            "allocator peaks",
            {"saved": SavedResult(bytes=40, absent={"allocator_bytes": "no CUDA"})},
            "allocator_bytes: no CUDA",
        ),
        (
            "allocator peaks",
            {"memory": replace(_record("x").memory, peak_allocated_samples=[100])},
            "1 memory pass(es)",
        ),
        (
            "memory process (spawn)",
            {"memory": replace(_record("x").memory, isolation=CO_RESIDENT)},
            "in the main process",
        ),
        (
            "FLOPs counted",
            {"flops": FlopsResult(absent={"total": "the FLOP pass failed"})},
            "the FLOP pass failed",
        ),
    ],
)
def test_each_path_that_left_no_figure_fails_its_own_check(
    name: str, changes: dict, reason: str
) -> None:
    checks = judge_records([_record("serial"), _record("mobius", **changes)], cuda=True)
    status, detail = _status(checks, name)
    assert status == FAILED and "mobius" in detail and reason in detail
    assert verdict(checks).startswith(f"preflight: FAILED: {name}: tiny-b1-f4-r64-bf16 mobius")


def test_an_fp32_step_has_not_been_counted_under_autocast() -> None:
    fp32 = Case("tiny", 1, 4, 64, "fp32", "cuda", 2, 1)
    records = [replace(_record(v), case=fp32) for v in VARIANTS]
    assert _status(judge_records(records, cuda=True), "FLOPs under autocast")[0] == FAILED


def test_a_failed_or_missing_record_fails() -> None:
    oom = replace(_record("mobius"), status="oom", message="CUDA out of memory")
    assert _status(judge_records([_record("serial"), oom], True), "records") == (
        FAILED,
        "mobius oom: CUDA out of memory",
    )
    assert _status(judge_records([], True), "records")[0] == FAILED


def test_fvcore_disagreeing_or_absent_warns_but_does_not_fail() -> None:
    off = FlopsResult(total=1000, fvcore_agreement=1.05)
    gone = FlopsResult(total=1000, absent={"fvcore_forward": "fvcore failed: ImportError"})
    for flops, said in ((off, "agreement 1.050"), (gone, "ImportError")):
        checks = judge_records([_record("serial"), _record("mobius", flops=flops)], cuda=True)
        status, detail = _status(checks, "fvcore cross-check")
        assert status == WARNED and said in detail
        assert verdict(checks).endswith("; warnings: fvcore cross-check")


def test_a_cpu_rehearsal_skips_the_cuda_checks_and_says_why() -> None:
    cpu = Case("tiny", 1, 4, 64, "fp32", "cpu", 2, 1)
    records = [
        replace(_record(v), case=cpu, time=TimeResult.from_samples([5.0], HOST_CLOCK))
        for v in VARIANTS
    ]
    checks = judge_records(records, cuda=False)
    skipped = {c.name for c in checks if c.status == SKIPPED}
    assert skipped == set(CUDA_CHECKS)
    assert all(c.detail == NO_CUDA for c in checks if c.status == SKIPPED)
    assert f"skipped ({NO_CUDA}): CUDA events" in verdict(checks)


def _profile(folder: Path, kernels: int = 2, snapshot: bytes = b"x", timeline: bool = True) -> Path:
    folder.mkdir()
    (folder / "profile.md").write_text(f"{KERNEL_LINE}0.91**\n" * kernels)
    for v in VARIANTS:
        (folder / f"{v}-trace.json").write_text("{}")
        (folder / f"{v}-memory-snapshot.pickle").write_bytes(snapshot)
    if timeline:
        (folder / "memory_timeline.png").write_bytes(b"png")
    return folder


def test_the_profile_checks(tmp_path: Path) -> None:
    good = judge_profile(_profile(tmp_path / "good"), VARIANTS, cuda=True)
    assert [c.status for c in good] == [OK_, OK_, OK_]
    no_kernels = judge_profile(_profile(tmp_path / "cpu-like", kernels=0), VARIANTS, cuda=True)
    assert _status(no_kernels, "profiler CUDA kernels") == (FAILED, "0 of 2 variants")
    empty = judge_profile(_profile(tmp_path / "empty", snapshot=b""), VARIANTS, cuda=True)
    assert _status(empty, "memory snapshot") == (FAILED, "no snapshot for serial, mobius")
    bare = tmp_path / "bare"
    bare.mkdir()
    assert _status(judge_profile(bare, VARIANTS, cuda=True), "profiler")[0] == FAILED
    cpu = judge_profile(_profile(tmp_path / "cpu", kernels=0), VARIANTS, cuda=False)
    assert [c.status for c in cpu] == [OK_, SKIPPED, SKIPPED]
