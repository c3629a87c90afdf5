"""The matched fine-tuning step of every variant, one benchmark per case and variant.

The session times each case's variants interleaved (CUDA events, or the host clock on
CPU); each benchmark then times its own variant's cross-check rounds through
pytest-benchmark and carries the whole record in `extra_info`. As a rank of a ddp or fsdp
run, each benchmark is its variant measured on every rank, pytest-benchmark running its
synchronised timed rounds.
"""

from __future__ import annotations

import pytest

from mobius_core.report.record import OK, OOM, Case, Record
from mobius_core.run.matrix import cross_check_rounds
from mobius_core.run.ranked_session import RankedSession, tell_launcher
from mobius_core.run.session import BenchSession


def test_step(
    benchmark, bench: BenchSession | RankedSession, case: Case, variant: str, pytestconfig
) -> None:
    benchmark.group = case.key
    if isinstance(bench, RankedSession):
        record = _ranked(benchmark, bench, case, variant, pytestconfig)
    else:
        run = bench.run(case)
        rounds = cross_check_rounds(case)
        run.guard(
            variant,
            lambda: benchmark.pedantic(
                run.step, args=(variant,), rounds=rounds, warmup_rounds=0, iterations=1
            ),
        )
        record = bench.record(case, variant, _median_ms(benchmark))
    if record.status == OOM:
        pytest.skip(f"out of memory at {record.shapes}: {record.message}")
    if record.status != OK:
        if isinstance(bench, RankedSession) and not bench.world.leader:
            return  # rank 0 reports it: this rank failing would end the run before its JSON
        pytest.fail(f"{variant} failed: {record.message}")
    benchmark.extra_info.update(record.to_dict())


def _ranked(
    benchmark, bench: RankedSession, case: Case, variant: str, config: pytest.Config
) -> Record:
    """`variant` on every rank: pytest-benchmark runs its timed rounds (each a monitored
    barrier, the step and the max over ranks), the record's time is that max per round.

    A failure after the wrap, inside a collective step, ends the run, as under `mobius-bench
    bench --nproc`: the other ranks cannot go on to the next test without this one, so this
    rank says why on stderr (where the launcher reads it) and stops its session; the
    launcher then ends every rank, naming this one."""
    try:
        ranked = bench.prepare(case, variant)
        if isinstance(ranked, Record):  # it failed to build, on some rank: all go on
            return ranked
        benchmark.pedantic(ranked.round, rounds=case.rounds, warmup_rounds=0, iterations=1)
        return bench.finish(ranked, _median_ms(benchmark))
    except Exception as error:
        reason = f"{variant} at {case.key}: {type(error).__name__}: {error}".splitlines()[0]
        tell_launcher(config, f"rank {bench.world.rank}: {reason}")
        pytest.exit(f"rank {bench.world.rank} stopped the run: {reason}", returncode=1)


def _median_ms(benchmark) -> float | None:
    stats = benchmark.stats
    return 1000 * stats.stats.median if stats is not None and stats.stats.data else None
