"""Reading runs back: a pytest-benchmark JSON of records, a CI baseline cut from one, or a
dry run. Every record comes back through `Record.from_dict()` or `DryRun.from_dict()`, and
every problem with a file is one line naming the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobius_core.errors import BadInput
from mobius_core.report.record import DryRecord, DryRun, Record, RecordError

FAILED_KEY = "mobius_failed_records"  # records of cases that ran out of memory or failed
BASELINE_KEY = "mobius_baseline"  # marks a run cut to its exact figures (baseline.py)
INTERRUPTED_KEY = "interrupted"  # top level: true when Ctrl-C ended the run early
RUN_FILE = "run.json"  # the run inside a run folder
BENCHMARK, DRY_RUN = "benchmark", "dry-run"


@dataclass
class Run:
    """The records of one file: measured (a benchmark run or its baseline) or predicted."""

    path: Path
    kind: str  # benchmark or dry-run
    records: list[Record] | list[DryRecord]
    machine: dict[str, Any] = field(default_factory=dict)
    baseline_of: str | None = None  # a CI baseline: the run it was cut from
    interrupted: bool = False  # Ctrl-C ended the run early; it holds the finished cases

    @property
    def gpu(self) -> str | None:
        return self.machine.get("gpu")

    @property
    def machine_id(self) -> tuple[Any, ...]:
        """What makes time and memory comparable: the GPU, the CPU's model and its cores."""
        m = self.machine
        return (m.get("gpu"), m.get("cpu_model") or m.get("cpu"), m.get("cpu_count"))

    def describe_machine(self) -> str:
        gpu, cpu, cores = self.machine_id
        return str(gpu) if gpu else f"{cpu} with {cores} cores"


def load(path: Path) -> Run:
    """Read and check one file (or the `run.json` of a run folder); one line on any fault."""
    path = _file(path)
    data = _json(path)
    try:
        return _parse(path, data)
    except RecordError as error:
        raise RecordError(f"{path}: {error}") from None


def _file(path: Path) -> Path:
    if path.is_dir():
        if (path / RUN_FILE).is_file():
            return path / RUN_FILE
        raise BadInput(
            f"{path}: is a folder; give a run's JSON file or a folder holding {RUN_FILE}"
        )
    if not path.exists():
        raise BadInput(f"{path}: no such file")
    return path


def _json(path: Path) -> Any:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not JSON (not UTF-8 text)") from None
    except OSError as error:
        raise BadInput(f"{path}: cannot read: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput(f"{path}: not JSON (line {error.lineno}: {error.msg})") from None
    except RecursionError:
        raise BadInput(f"{path}: not a usable JSON: nested too deeply to read") from None


def _kind(value: Any) -> str:
    """The JSON name of `value`'s type, for messages."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _parse(path: Path, data: Any) -> Run:
    if not isinstance(data, dict):
        raise BadInput(f"{path}: not a pytest-benchmark JSON or a mobius-bench dry run")
    if str(data.get("schema", "")).startswith("mobius-bench-dryrun/"):
        dry = DryRun.from_dict(data, "dry run")
        if not dry.records:
            raise BadInput(f"{path}: an empty dry run: no records in it")
        return Run(path, DRY_RUN, dry.records)
    if "benchmarks" not in data:
        known = f"schema {data['schema']!r}: " if "schema" in data else ""
        raise BadInput(f"{path}: {known}not a pytest-benchmark JSON or a mobius-bench dry run")
    benchmarks, failed = data["benchmarks"], data.get(FAILED_KEY, [])
    for name, value in (("benchmarks", benchmarks), (FAILED_KEY, failed)):
        if not isinstance(value, list):
            raise BadInput(f"{path}: {name}: expected a list, got {_kind(value)}")
    records = [_record(path, bench, i) for i, bench in enumerate(benchmarks)]
    records += [Record.from_dict(r, f"{FAILED_KEY}[{i}]") for i, r in enumerate(failed)]
    if not records:
        raise BadInput(f"{path}: an empty run: no benchmarks in it")
    machine, baseline_of = _machine(path, data), _baseline_of(path, data)
    return Run(path, BENCHMARK, records, machine, baseline_of, data.get(INTERRUPTED_KEY) is True)


def _record(path: Path, bench: Any, i: int) -> Record:
    if not isinstance(bench, dict):
        raise BadInput(f"{path}: benchmarks[{i}]: expected an object, got {_kind(bench)}")
    if not bench.get("extra_info"):
        raise BadInput(f"{path}: a pytest-benchmark JSON without mobius-bench records")
    return Record.from_dict(bench["extra_info"], f"benchmarks[{i}].extra_info")


def _machine(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Our machine description, with the CPU's model from pytest-benchmark's where known."""
    info = data.get("machine_info", {})
    if not isinstance(info, dict):
        raise BadInput(f"{path}: machine_info: expected an object, got {_kind(info)}")
    machine, cpu = info.get("mobius", {}), info.get("cpu", {})
    if not isinstance(machine, dict):
        raise BadInput(f"{path}: machine_info.mobius: expected an object, got {_kind(machine)}")
    if isinstance(cpu, dict) and isinstance(cpu.get("brand_raw"), str):
        machine = {**machine, "cpu_model": cpu["brand_raw"]}
    return machine


def _baseline_of(path: Path, data: dict[str, Any]) -> str | None:
    if BASELINE_KEY not in data:
        return None
    mark = data[BASELINE_KEY]
    if not isinstance(mark, dict) or not isinstance(mark.get("source"), str):
        raise BadInput(f"{path}: {BASELINE_KEY}: expected an object with a source, got {mark!r}")
    return mark["source"]


def load_all(paths: list[Path]) -> tuple[list[Run], list[Run]]:
    """Benchmark runs and dry runs among `paths`; the benchmark runs share one machine."""
    runs = [load(p) for p in paths]
    for run in runs:
        if run.baseline_of is not None:
            raise BadInput(
                f"{run.path}: a CI baseline: it holds no time and no allocator peaks; give the"
                f" run it was cut from ({run.baseline_of})"
            )
    measured = [r for r in runs if r.kind == BENCHMARK]
    predicted = [r for r in runs if r.kind == DRY_RUN]
    if not measured:
        raise BadInput(f"{paths[0]}: a dry run alone: give a benchmark run to report on")
    for run in measured[1:]:
        if run.machine_id != measured[0].machine_id:
            raise BadInput(
                f"{run.path}: measured on {run.describe_machine()}, not"
                f" {measured[0].describe_machine()} as {measured[0].path}: runs of different"
                " machines are not merged"
            )
    return measured, predicted
