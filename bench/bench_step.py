"""The matched fine-tuning step of every variant, one benchmark per case and variant.

Each case's variants are first timed interleaved (CUDA events, or the host clock on CPU)
by `CaseRun`; each benchmark then times its own variant's rounds through pytest-benchmark
(the cross-check) and carries the whole record in `extra_info`.
"""

from __future__ import annotations

import pytest

from mobius_core.run.runner import Case


def test_step(benchmark, suite, case: Case, variant: str) -> None:
    run = suite.run(case)
    benchmark.group = case.key
    run.guard(
        variant,
        lambda: benchmark.pedantic(
            run.step, args=(variant,), rounds=case.rounds, warmup_rounds=case.warmup, iterations=1
        ),
    )
    record = run.record(variant)
    if record["status"] != "ok":
        suite.failed.append(record)
        if record["status"] == "oom":
            pytest.skip(f"out of memory at {record['shapes']}: {record['message']}")
        pytest.fail(f"{variant} failed: {record['message']}")
    record["pytest_benchmark_median_ms"] = 1000 * benchmark.stats.stats.median
    benchmark.extra_info.update(record)
