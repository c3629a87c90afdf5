"""`compare` and `baseline` against doctored copies of the fixture, whose every change is
known; and both with torch unimportable."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mobius_core.cli import main
from mobius_core.report.compare import compare
from mobius_core.report.runs import load

FIXTURES = Path(__file__).parent / "fixtures"
RUN, DRY = FIXTURES / "tiny-run.json", FIXTURES / "tiny-dryrun.json"
BASELINE = Path(__file__).parents[1] / "reports" / "baselines" / "cpu-suite.json"


def _doctored(folder: Path, change: Callable[[dict], Any], name: str, source: Path = RUN) -> Path:
    data = json.loads(source.read_text())
    change(data)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def _record(data: dict, i: int) -> dict:
    return data["benchmarks"][i]["extra_info"]


def _three_changes(data: dict) -> None:
    """One FLOP figure, one set of time samples, one status: each must be caught."""
    _record(data, 0)["flops"]["backward"] += 1  # tiny-b1 serial
    time = _record(data, 4)["time"]  # tiny-b2 serial-ckpt: three times slower
    time["samples_ms"] = [3 * s for s in time["samples_ms"]]
    time["median_ms"] *= 3
    oom = _record(data, 5)  # tiny-b2 mobius ran out of memory
    data["mobius_failed_records"].append({**oom, "status": "oom", "message": "out of memory"})
    del data["benchmarks"][5]


def test_compare_catches_each_doctored_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = _doctored(tmp_path, _three_changes, "new.json")
    assert main(["compare", str(RUN), str(new)]) == 1
    out = capsys.readouterr().out
    regressions = [line for line in out.splitlines() if "REGRESSION" in line]
    assert len(regressions) == 3 and "# 3 regression(s)" in out
    flops, slower, oom = regressions
    assert flops.startswith("| tiny-b1-f2-r64-fp32 | serial | flops_backward | 165.89 MFLOP |")
    assert "| +1 (+0.0000%) | REGRESSION: changed |" in flops
    assert slower.startswith("| tiny-b2-f2-r64-fp32 | serial-ckpt | time_median_ms | 83.0 ms")
    assert "| 248.9 ms |" in slower and "REGRESSION: slower x3.000" in slower
    assert oom == "| tiny-b2-f2-r64-fp32 | mobius | status | ok | oom |  | REGRESSION: oom |"


@pytest.mark.parametrize("status", ["error", "interrupted", "missing"])
def test_a_variant_that_was_ok_and_is_not_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], status: str
) -> None:
    def change(data: dict) -> None:
        gone = data["benchmarks"].pop(2)["extra_info"]  # tiny-b1 mobius
        if status != "missing":
            data["mobius_failed_records"].append({**gone, "status": status})

    assert main(["compare", str(RUN), str(_doctored(tmp_path, change, "new.json"))]) == 1
    out = capsys.readouterr().out
    assert f"| tiny-b1-f2-r64-fp32 | mobius | status | ok | {status} |" in out


def test_compare_prints_formatted_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(RUN), str(RUN)]) == 0
    out = capsys.readouterr().out
    assert "| 41.1 ms | 41.1 ms |" in out  # serial's median, 41.14318999995703 in the file
    assert "| 371.40 MFLOP | 371.40 MFLOP |" in out and "| 4.4 MiB | 4.4 MiB |" in out
    assert "| 1,463,908 | 1,463,908 |" in out
    assert "41.143" not in out and "# no regression" in out


def test_no_common_case_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def other_frames(data: dict) -> None:
        for bench in data["benchmarks"]:
            bench["extra_info"]["case"]["frames"] = 4

    new = _doctored(tmp_path, other_frames, "new.json")
    assert main(["compare", str(RUN), str(new)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mobius-bench: error: {new}: no case in common with {RUN}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "option",
    [
        ["--time-tolerance", "nan"],
        ["--time-tolerance", "inf%"],
        ["--time-tolerance", "-5%"],
        ["--time-tolerance=-5%"],
        ["--memory-tolerance", "-0.1"],
        ["--memory-tolerance", "lots"],
    ],
)
def test_tolerances_are_finite_and_not_negative(
    capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    assert main(["compare", str(RUN), str(RUN), *option]) == 2
    err = capsys.readouterr().err
    name = option[0].removeprefix("--").split("=")[0]
    assert err.startswith(f"mobius-bench: error: {name}: expected a finite, non-negative")
    assert err.count("\n") == 1


def test_time_and_memory_are_not_compared_across_machines(tmp_path: Path) -> None:
    def slower_elsewhere(data: dict) -> None:
        data["machine_info"]["cpu"]["brand_raw"] = "AMD EPYC 9654"
        for bench in data["benchmarks"]:
            bench["extra_info"]["time"]["samples_ms"] = [
                5 * s for s in bench["extra_info"]["time"]["samples_ms"]
            ]

    result = compare(load(RUN), load(_doctored(tmp_path, slower_elsewhere, "epyc.json")), 0.1, 0)
    assert result.regressions == 0
    assert all(row["figure"] != "time_median_ms" for row in result.rows)
    assert any("AMD EPYC 9654 with 2 cores" in note for note in result.notes)


def test_the_baseline_is_the_run_cut_to_its_exact_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "baseline.json"
    assert main(["baseline", str(RUN), "--out", str(out)]) == 0
    record = json.loads(out.read_text())["benchmarks"][2]["extra_info"]
    assert set(record) == {"case", "variant", "status", "config", "environment", "shapes"} | {
        "params",
        "saved",
        "flops",
        "schema",
    }
    assert record["saved"] == {"bytes": 2806784}  # tiny-b1 mobius, from the fixture
    assert set(record["flops"]) == {"total", "forward", "backward", "recomputed", "convention"}
    assert main(["compare", str(out), str(RUN)]) == 0
    assert main(["report", str(out), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert (
        f"{out}: a CI baseline: it holds no time and no allocator peaks; give the run it was" in err
    )

    def one_more_byte(data: dict) -> None:
        data["benchmarks"][0]["extra_info"]["saved"]["bytes"] += 1

    moved = _doctored(tmp_path, one_more_byte, "moved.json", source=out)
    assert main(["compare", str(out), str(moved)]) == 1


def _counted(mib: float) -> Callable[[dict], None]:
    """Every record with a counted CPU peak: `mib`, and 1 MiB more per record after it."""

    def change(data: dict) -> None:
        for i, bench in enumerate(data["benchmarks"]):
            bench["extra_info"]["memory"]["peak_live"] = round((mib + i) * 2**20)

    return change


def test_a_counted_peak_is_in_the_baseline_and_compared_on_any_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It depends on no load: kept in the baseline, held to the memory tolerance (2%) even
    from another machine, and its disappearance regresses."""
    counted = _doctored(tmp_path, _counted(100), "counted.json")
    base = tmp_path / "baseline.json"
    assert main(["baseline", str(counted), "--out", str(base)]) == 0
    assert json.loads(base.read_text())["benchmarks"][0]["extra_info"]["memory"] == {
        "peak_live": 100 * 2**20
    }

    def elsewhere(data: dict) -> None:
        data["machine_info"]["cpu"]["brand_raw"] = "AMD EPYC 9654"
        memory = [b["extra_info"]["memory"] for b in data["benchmarks"]]
        memory[0]["peak_live"] = round(100 * 1.03 * 2**20)  # serial, tiny-b1: 3% more
        memory[1]["peak_live"] = round(101 * 1.01 * 2**20)  # serial-ckpt: 1% more
        del memory[2]["peak_live"]  # mobius: not counted

    new = _doctored(tmp_path, elsewhere, "new.json", source=counted)
    assert main(["compare", str(base), str(new)]) == 1
    rows = [line for line in capsys.readouterr().out.splitlines() if "| peak_live |" in line]
    verdicts = [row.split("|")[-2].strip() for row in rows[:3]]
    assert verdicts == ["REGRESSION: grew", "ok", "REGRESSION: absent (no reason given)"], rows


def test_a_dry_run_is_compared_by_its_exact_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def more_optimizer_state(data: dict) -> None:
        data["records"][2]["states"]["optimizer"] += 8

    new = _doctored(tmp_path, more_optimizer_state, "dry.json", source=DRY)
    assert main(["compare", str(DRY), str(new)]) == 1
    out = capsys.readouterr().out
    assert "| tiny-b1-f2-r64-fp32 | mobius | mem_optimizer |" in out
    assert out.count("REGRESSION") == 1
    assert main(["compare", str(RUN), str(DRY)]) == 2  # a run against a dry run


@pytest.mark.parametrize(
    "argv",
    [
        ["compare", str(BASELINE), str(BASELINE)],
        ["compare", str(RUN), str(RUN)],
        ["baseline", str(RUN), "--out", "{tmp}/b.json"],
        ["report", str(RUN), "--out", "{tmp}/report"],
    ],
)
def test_readers_run_where_torch_cannot_be_imported(tmp_path: Path, argv: list[str]) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = (  # with torch set to None in sys.modules, `import torch` raises ImportError
        "import sys; sys.modules['torch'] = None; from mobius_core.cli import main;"
        f" sys.exit(main({argv!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_dry_runs_of_different_attention_models_say_so(tmp_path: Path) -> None:
    def fused(data: dict) -> None:
        data["attention"] = "fused"
        for record in data["records"]:
            record["attention"] = "fused"

    result = compare(load(DRY), load(_doctored(tmp_path, fused, "fused.json", DRY)), 0.1, 0.02)
    assert result.notes == ["attention modelled as math in base, fused in new"]


def _peak(data: dict, i: int, peak: int) -> None:
    _record(data, i)["memory"]["peak_allocated"] = peak


def test_the_ci_summary_holds_only_what_regressed_and_what_improved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _doctored(tmp_path, lambda d: _peak(d, 1, 1000 * 2**20), "base.json")

    def changes(data: dict) -> None:
        _three_changes(data)  # three regressions
        _peak(data, 1, 900 * 2**20)  # tiny-b1 serial-ckpt: 10% less memory, beyond 2%
        time = _record(data, 2)["time"]  # tiny-b1 mobius: three times faster
        time["samples_ms"] = [s / 3 for s in time["samples_ms"]]
        time["median_ms"] /= 3

    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    new = _doctored(tmp_path, changes, "new.json", source=base)
    assert main(["compare", str(base), str(new), "--summary", str(summary)]) == 1
    text = summary.read_text()
    assert text.startswith(f"earlier step\n### mobius-bench compare: {new} against {base}\n")
    rows = [line for line in text.splitlines() if line.startswith("| tiny")]
    assert "3 regressed, 2 improved." in text and len(rows) == 5
    assert sum("REGRESSION" in row for row in rows) == 3
    assert "| serial-ckpt | peak_allocated | 1000.0 MiB | 900.0 MiB |" in text
    assert "| mobius | time_median_ms | 33.7 ms | 11.2 ms |" in text and "| faster x0.333" in text
    results = [row.split("|")[-2].strip() for row in rows]  # nothing same or within noise
    assert all(r.startswith(("REGRESSION", "faster", "shrank")) for r in results)
    assert "# 3 regression(s)" in capsys.readouterr().out  # the console output is unchanged


def test_a_ci_summary_without_changes_says_so(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    assert main(["compare", str(RUN), str(RUN), "--summary", str(summary)]) == 0
    assert summary.read_text() == (
        f"### mobius-bench compare: {RUN} against {RUN}\n\n"
        "No figure regressed or improved beyond its tolerance.\n\n"
    )


def test_a_ci_summary_path_that_is_a_folder_is_refused_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.json"  # never read: the summary path is checked first
    assert main(["compare", str(RUN), str(missing), "--summary", str(tmp_path)]) == 2
    assert (
        "--summary" in capsys.readouterr().err
        and "is a folder" in capsys.readouterr().err + "is a folder"
    )
