"""The bench run as a Python API: a pytest-benchmark JSON, failures in it, paths checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fakes import Scale, build, launch
from torch import nn

from mobius_core.errors import BadInput
from mobius_core.report.record import Case
from mobius_core.report.runs import FAILED_KEY, load
from mobius_core.run.bench import run_bench
from mobius_core.run.launcher import Job
from mobius_core.run.matrix import parse

COMPARE = "from pytest_benchmark.cli import main; main()"  # `pytest-benchmark compare`
OPTIONS = {"preset": "tiny", "frames": "2", "resolution": "64", "rounds": "2", "warmup": "0"}


def bench(tmp_path: Path, build=build, **options: str) -> dict:
    out = tmp_path / "runs" / "run.json"  # a missing parent is made
    run_bench(parse({**OPTIONS, **options}), out, launch, lambda _: None, build)
    return json.loads(out.read_text())


def test_the_json_is_a_pytest_benchmark_run_with_our_records(tmp_path: Path) -> None:
    data = bench(tmp_path, variants="serial,mobius", batch="1,2")
    names = [b["name"] for b in data["benchmarks"]]
    assert names == [
        "test_step[tiny-b1-f2-r64-fp32-serial]",
        "test_step[tiny-b1-f2-r64-fp32-mobius]",
        "test_step[tiny-b2-f2-r64-fp32-serial]",
        "test_step[tiny-b2-f2-r64-fp32-mobius]",
    ]
    first = data["benchmarks"][0]
    assert first["group"] == "tiny-b1-f2-r64-fp32" and len(first["stats"]["data"]) == 2
    assert first["extra_info"]["pytest_benchmark_median_ms"] == pytest.approx(
        1000 * first["stats"]["median"]
    )
    assert "as pytest-benchmark's pedantic times it" in first["extra_info"]["time"]["method"]
    assert data["machine_info"]["mobius"]["torch"] == torch.__version__
    assert data[FAILED_KEY] == [] and data["interrupted"] is False
    run = load(tmp_path / "runs" / "run.json")
    assert [r.status for r in run.records] == ["ok"] * 4
    compared = subprocess.run(
        [sys.executable, "-c", COMPARE, "compare", str(tmp_path / "runs" / "run.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert compared.returncode == 0 and "tiny-b2-f2-r64-fp32-mobius" in compared.stdout


def test_one_variant_alone_is_ok_without_its_baseline_ratio(tmp_path: Path) -> None:
    (entry,) = bench(tmp_path, variants="mobius", batch="1")["benchmarks"]
    record = entry["extra_info"]
    assert record["status"] == "ok"
    assert record["ratio_to_baseline"] == {
        "absent": {"ratio": "the baseline serial was not run in this case"}
    }


def test_out_of_memory_while_building_is_a_record(tmp_path: Path) -> None:
    def build_or_oom(case: Case, variant: str) -> nn.Module:
        if variant == "mobius":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")
        return Scale()

    data = bench(tmp_path, build_or_oom, variants="serial,mobius", batch="1")
    assert [b["extra_info"]["variant"]["name"] for b in data["benchmarks"]] == ["serial"]
    (failed,) = data[FAILED_KEY]
    assert failed["status"] == "oom" and "Tried to allocate 80.00 GiB" in failed["message"]
    assert failed["shapes"]["latents"] == [1, 4, 2, 8, 8]


def test_an_existing_output_is_refused_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    out.write_text("{}")

    def never(job: Job) -> dict:
        raise AssertionError("work began")

    with pytest.raises(BadInput, match="exists already"):
        run_bench(parse(OPTIONS), out, never, lambda _: None, build)
    assert out.read_text() == "{}"


def test_bench_refuses_a_bad_suite_option_in_one_line_and_makes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mobius_core.cli import main

    existing = tmp_path / "old.json"
    existing.write_text("{}")
    runs = tmp_path / "runs"
    for suite, message in [
        (["--batch", "0"], "--batch: must be positive, got '0'"),
        (["--presett", "tiny"], "suite options: unknown --presett tiny;"),
        (["--benchmark-json", str(existing)], f"{existing}: exists already"),
    ]:
        assert main(["bench", "--out", str(runs), "--", *suite]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"mobius-bench: error: {message}")
    assert not runs.exists() and existing.read_text() == "{}"


def test_the_estimate_scales_the_first_round_by_clip_size_and_rounds() -> None:
    from mobius_core.run.case import make_case
    from mobius_core.run.session import BenchSession

    small = make_case("tiny", 1, 2, 64, "fp32", "cpu", rounds=2, warmup=1)
    double = make_case("tiny", 2, 2, 64, "fp32", "cpu", rounds=2, warmup=1)
    said: list[str] = []
    session = BenchSession({small: ["serial", "mobius"], double: ["serial"]}, launch, said.append)
    # rounds per variant: 1 warm-up + 2 timed + 2 cross-check (CPU: the case's rounds) = 5;
    # 3 s a round of two variants at batch 1: 5 x 3 s + one variant at twice the size: 5 x 3 s
    session._estimate(3.0)
    assert said == [
        "# estimate: timing takes about 0.5 min for 2 case(s)"
        " (from a first round of 3.00 s, scaled by clip size)"
    ]
