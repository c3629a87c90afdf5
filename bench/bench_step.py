"""The matched fine-tuning step of every variant, one benchmark per case and variant.

The session times each case's variants interleaved (CUDA events, or the host clock on
CPU); each benchmark then times its own variant's cross-check rounds through
pytest-benchmark and carries the whole record in `extra_info`.
"""

from __future__ import annotations

import pytest

from mobius_core.report.record import OK, OOM, Case
from mobius_core.run.matrix import cross_check_rounds
from mobius_core.run.session import BenchSession


def test_step(benchmark, bench: BenchSession, case: Case, variant: str) -> None:
    run = bench.run(case)
    benchmark.group = case.key
    rounds = cross_check_rounds(case)
    run.guard(
        variant,
        lambda: benchmark.pedantic(
            run.step, args=(variant,), rounds=rounds, warmup_rounds=0, iterations=1
        ),
    )
    stats = benchmark.stats
    median_ms = 1000 * stats.stats.median if stats is not None and stats.stats.data else None
    record = bench.record(case, variant, median_ms)
    if record.status == OOM:
        pytest.skip(f"out of memory at {record.shapes}: {record.message}")
    if record.status != OK:
        pytest.fail(f"{variant} failed: {record.message}")
    benchmark.extra_info.update(record.to_dict())
