"""The pytest suite as one rank of a ddp or fsdp run (`torchrun ... -m pytest bench/`).

Every rank collects the same items and runs them in the same order, so each test is one
variant measured on every rank together: `prepare` (its world-size-1 reference on rank 0,
built, wrapped, warmed up, collectives counted, untimed passes), then its timed rounds,
which pytest-benchmark's pedantic runs (`RankedVariant.round`: a monitored barrier, the
step, the max over ranks), then `finish`. The variants run one after another, not
interleaved, as in `mobius-bench bench --nproc N`; ratios to the baseline are set once
every test has run (`with_ratios`), whatever order the tests ran in.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

import pytest
from torch import nn

from mobius_core.report.record import OK, Case, Record
from mobius_core.run.case import build_variant
from mobius_core.run.dist_case import RankedVariant, prepare, set_ratios
from mobius_core.run.distributed import World

Plan = dict[Case, list[str]]  # case -> its variants, in the order to run


class RankedSession:
    """This rank's part of the planned cases, one variant at a time."""

    def __init__(
        self, plan: Plan, world: World, build: Callable[[Case, str], nn.Module] = build_variant
    ) -> None:
        self.plan, self.world, self.build = plan, world, build
        self.records: dict[str, Record] = {}  # by test id, `case key-variant`
        self.failed: list[Record] = []  # records that ran out of memory or failed

    def prepare(self, case: Case, variant: str) -> RankedVariant | Record:
        """`variant` ready to time on every rank, or its failed record."""
        ranked = prepare(case, variant, self.world, self.build)
        return ranked if isinstance(ranked, RankedVariant) else self._keep(ranked)

    def finish(self, ranked: RankedVariant, pytest_median_ms: float | None) -> Record:
        """The timed variant's record (rank 0's carries every rank's figures); freed."""
        return self._keep(ranked.finish(pytest_median_ms))

    def with_ratios(self) -> dict[str, Record]:
        """Every record by test id, each case's ratios to its baseline set."""
        for case in self.plan:
            set_ratios([r for r in self.records.values() if r.case == case])
        return self.records

    def _keep(self, record: Record) -> Record:
        self.records[f"{record.case.key}-{record.variant.name}"] = record
        if record.status != OK:
            self.failed.append(record)
        return record


def tell_launcher(config: pytest.Config, line: str) -> None:
    """`line` on this rank's real stderr, past pytest's capture: the launcher quotes a failed
    rank's last stderr line."""
    capture = config.pluginmanager.getplugin("capturemanager")  # None under -p no:capture
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(line, file=sys.stderr, flush=True)
