"""The bench run as one rank of a ddp or fsdp run: every rank measures every case, rank 0
writes the JSON after each case (with every rank's figures in its records)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import nn

from mobius_core.outputs import check_new_file
from mobius_core.report.record import Case, Record
from mobius_core.run.case import build_variant
from mobius_core.run.dist_case import measure_case
from mobius_core.run.distributed import World
from mobius_core.run.matrix import Options, plan
from mobius_core.run.runjson import RunWriter


def run_ranks(
    options: Options,
    out_json: Path,
    world: World,
    say: Callable[[str], None] = print,
    build: Callable[[Case, str], nn.Module] = build_variant,
) -> RunWriter | None:
    """Measure every planned case on this rank; rank 0's writer (None on the others).

    Ctrl-C on rank 0 marks the file `interrupted`, keeping every finished case."""
    chosen = plan(options)
    writer = RunWriter(check_new_file(out_json)) if world.leader else None
    try:
        for case, variants in chosen.items():
            if world.leader:
                say(f"# {case.key}: {', '.join(variants)} on {world.size} ranks, one by one")
            records = measure_case(case, variants, world, build)
            if writer is not None:
                writer.add(records, {r.variant.name: _seconds(r) for r in records})
                say(
                    f"# case {case.key}: "
                    + ", ".join(f"{r.variant.name} {r.status}" for r in records)
                )
    except KeyboardInterrupt:
        if writer is None:
            raise
        writer.interrupted = True
        writer.write()
    return writer


def _seconds(record: Record) -> list[float]:
    """The round times pytest-benchmark's stats get: the max over ranks, in seconds."""
    samples = record.time.samples_ms if record.time else None
    return [ms / 1000 for ms in samples or []]
