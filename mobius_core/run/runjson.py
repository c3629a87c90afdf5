"""A run as a pytest-benchmark JSON: `benchmarks` (name, group, stats, `extra_info` = the
record), `machine_info` (with `mobius`, the environment), failed records beside them.

`pytest-benchmark compare` loads what this writes, and `report.runs` reads it back. The
file is rewritten whole (atomically) after each case, so that an interrupted run keeps
every finished case.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_benchmark import __version__ as pytest_benchmark_version
from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info
from pytest_benchmark.stats import Stats
from pytest_benchmark.utils import get_commit_info

from mobius_core.measure.environment import environment
from mobius_core.outputs import write_atomic
from mobius_core.report.record import INTERRUPTED, OK, Record
from mobius_core.report.runs import FAILED_KEY

INTERRUPTED_KEY = "interrupted"  # top level: true when Ctrl-C ended the run early
BENCH_TEST = "bench/bench_step.py::test_step"


def test_id(record: Record) -> str:
    """The suite's id of a case and variant: the same in both faces of the suite."""
    return f"{record.case.key}-{record.variant.name}"


def machine_info() -> dict[str, Any]:
    """pytest-benchmark's machine info, with ours under `mobius` (as the suite adds it)."""
    info = pytest_benchmark_generate_machine_info()
    env = environment()
    info.update(mobius=env, gpu=env.get("gpu"), torch=env.get("torch"))
    return info


def benchmark(record: Record, seconds: list[float]) -> dict[str, Any]:
    """One pytest-benchmark entry: the stats of `seconds`, the record in `extra_info`."""
    stats = Stats()
    for value in seconds:
        stats.update(value)
    name = f"test_step[{test_id(record)}]"
    return {
        "group": record.case.key,
        "name": name,
        "fullname": f"{BENCH_TEST}[{test_id(record)}]",
        "params": {"case": record.case.key, "variant": record.variant.name},
        "param": test_id(record),
        "extra_info": record.to_dict(),
        "options": {"rounds": len(seconds), "iterations": 1, "timer": "perf_counter"},
        "stats": {**stats.as_dict(), "data": list(seconds), "iterations": 1},
    }


class RunWriter:
    """The run's JSON at `path`, rewritten after each case; `path` must not exist at first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.machine = machine_info()
        self.commit = get_commit_info()
        self.benchmarks: list[dict[str, Any]] = []
        self.failed: list[Record] = []
        self.interrupted = False
        self._written = False

    @property
    def kept(self) -> int:
        """How many records the file holds."""
        return len(self.benchmarks) + len(self.failed)

    def add(self, records: list[Record], seconds: dict[str, list[float]]) -> None:
        """One finished case's records (timed ones with their cross-check seconds); written."""
        for record in records:
            if record.status in (OK, INTERRUPTED):
                self.benchmarks.append(benchmark(record, seconds[record.variant.name]))
            else:
                self.failed.append(record)
        self.write()

    def write(self) -> None:
        document = {
            "machine_info": self.machine,
            "commit_info": self.commit,
            "benchmarks": self.benchmarks,
            "datetime": datetime.now(timezone.utc).isoformat(),
            "version": pytest_benchmark_version,
            FAILED_KEY: [r.to_dict() for r in self.failed],
            INTERRUPTED_KEY: self.interrupted,
        }
        write_atomic(self.path, json.dumps(document, indent=1) + "\n", replace=self._written)
        self._written = True
