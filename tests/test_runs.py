"""Reading runs back: every malformed input is one line naming the file and the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mobius_core.cli import main
from mobius_core.report.record import Record
from mobius_core.report.runs import load

FIXTURES = Path(__file__).parent / "fixtures"
RUN, DRY = FIXTURES / "tiny-run.json", FIXTURES / "tiny-dryrun.json"


def _doctored(folder: Path, source: Path, change: Callable[[dict], Any], name: str) -> Path:
    data = json.loads(source.read_text())
    change(data)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def _write(folder: Path, text: str) -> Path:
    path = folder / "input.json"
    path.write_text(text)
    return path


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """A change that sets the value at a dotted path (list indices as numbers)."""

    def change(data: dict) -> None:
        *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        for key in parents:
            data = data[key]
        data[last] = value

    return change


def _drop(path: str) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        for key in parents:
            data = data[key]
        del data[last]

    return change


def _no_records(data: dict) -> None:
    for bench in data["benchmarks"]:
        bench["extra_info"] = {}


BAD = [
    (lambda d: d / "missing.json", "no such file"),
    (lambda d: _write(d, "{not json"), "not JSON (line 1: Expecting property name"),
    (lambda d: _write(d, "[" * 100_000 + "]" * 100_000), "nested too deeply to read"),
    (lambda d: _write(d, json.dumps({"tool": "other"})), "not a pytest-benchmark JSON"),
    (lambda d: _doctored(d, RUN, _no_records, "r.json"), "without mobius-bench records"),
    (
        lambda d: _doctored(d, RUN, _set("benchmarks", []), "r.json"),
        "an empty run: no benchmarks in it",
    ),
    (
        lambda d: _doctored(d, RUN, _set("machine_info", None), "r.json"),
        "machine_info: expected an object, got null",
    ),
    (
        lambda d: _doctored(d, RUN, _set("mobius_failed_records", {"a": 1}), "r.json"),
        "mobius_failed_records: expected a list, got an object",
    ),
    (
        lambda d: _doctored(d, RUN, _drop("benchmarks.1.extra_info.status"), "r.json"),
        "benchmarks[1].extra_info.status: missing",
    ),
    (
        lambda d: _doctored(d, RUN, _set("benchmarks.0.extra_info.schema", "mobius-bench/9"), "r"),
        "benchmarks[0].extra_info: schema 'mobius-bench/9', expected 'mobius-bench/2'",
    ),
    (
        lambda d: _doctored(d, RUN, _set("benchmarks.2.extra_info.time.samples_ms", "x"), "r"),
        "benchmarks[2].extra_info.time.samples_ms: expected a list, got str",
    ),
    (lambda d: _doctored(d, DRY, _drop("config"), "dry.json"), "dry run.config: missing"),
    (
        lambda d: _doctored(d, DRY, _set("schema", "mobius-bench-dryrun/1"), "dry.json"),
        "dry run: schema 'mobius-bench-dryrun/1', expected 'mobius-bench-dryrun/2'",
    ),
    (lambda d: d, "is a folder; give a run's JSON file or a folder holding run.json"),
]


@pytest.mark.parametrize(("make", "message"), BAD)
def test_bad_input_is_one_line_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, message: str
) -> None:
    path = make(tmp_path)
    out = tmp_path / "report"
    for argv in (["report", str(path), "--out", str(out)], ["compare", str(RUN), str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"mobius-bench: error: {path}: ")  # one prefix, then the file
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
    assert not list(tmp_path.glob(".staging*"))  # no staging folder left behind


def test_a_run_folder_reads_as_its_run_json(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(RUN.read_text())
    assert load(tmp_path).path == tmp_path / "run.json"
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "report")]) == 0


def test_records_come_back_typed() -> None:
    run = load(RUN)
    assert all(isinstance(r, Record) for r in run.records)
    mobius = run.records[2]
    # the fixture's figures, read from the file by eye
    assert mobius.key == ("tiny-b1-f2-r64-fp32", "mobius")
    assert mobius.flops is not None and mobius.flops.total == 288743424
    assert mobius.variant.colour == "tab:green" and not mobius.variant.baseline
    assert run.records[0].variant.baseline
    assert run.machine_id == (None, "Intel(R) Xeon(R) Processor", 2)


def _other_cpu(data: dict) -> None:
    data["machine_info"]["cpu"]["brand_raw"] = "AMD EPYC 9654"


def _more_cores(data: dict) -> None:
    data["machine_info"]["mobius"]["cpu_count"] = 16


@pytest.mark.parametrize(
    ("change", "machine"),
    [(_other_cpu, "AMD EPYC 9654 with 2 cores"), (_more_cores, "Processor with 16 cores")],
)
def test_report_refuses_runs_of_different_cpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change, machine: str
) -> None:
    other = _doctored(tmp_path, RUN, change, "other.json")
    assert main(["report", str(RUN), str(other), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"{other}: measured on" in err and machine in err
    assert "runs of different machines are not merged" in err and err.count("\n") == 1
