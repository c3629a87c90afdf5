"""The report from a committed fixture run, compare, and every kind of bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from mobius_core.cli import main
from mobius_core.report.compare import compare
from mobius_core.report.runs import load

FIXTURE = Path(__file__).parent / "fixtures" / "tiny-run.json"
ALL_PLOTS = [
    "savings.png",
    "memory_sweeps.png",
    "time_vs_batch.png",
    "memory_breakdown.png",
    "flops_by_region.png",
    "time_distribution.png",
]


def _doctored(tmp_path: Path, change, name: str = "new.json") -> Path:
    data = json.loads(FIXTURE.read_text())
    change(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_report_writes_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    assert main(["report", str(FIXTURE), "--out", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    # a CPU run has no allocator peak: that plot is skipped, and the summary says so
    expected = {"summary.md", "cases.csv", "cases.md", *ALL_PLOTS} - {"memory_sweeps.png"}
    assert written == sorted(expected)
    summary = (out / "summary.md").read_text()
    assert "## Claims: Mobius against serial" in summary
    assert "skipped `memory_sweeps.png`: no allocator peak" in summary
    for verdict_column in ("vs 24%", "vs 12%"):
        assert verdict_column in summary
    assert summary.count("| mobius | ok |") == 2  # two cases
    assert any(v in summary for v in ("PASS", "FAIL", "INCONCLUSIVE"))
    csv = (out / "cases.csv").read_text().splitlines()
    assert len(csv) == 1 + 6 and "flops_backward_spatial" in csv[0]
    for plot in expected - {"summary.md", "cases.csv", "cases.md"}:
        assert (out / plot).read_bytes()[:4] == b"\x89PNG"


def test_report_sets_a_dry_run_beside_the_measurement(tmp_path: Path) -> None:
    dry = tmp_path / "dry.json"
    assert (
        main(
            [
                "dry-run",
                "--preset",
                "tiny",
                "--frames",
                "2",
                "--batch",
                "1",
                "--dtype",
                "fp32",
                "--json",
                str(dry),
            ]
        )
        == 0
    )
    out = tmp_path / "report"
    assert main(["report", str(FIXTURE), str(dry), "--out", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert "## Predicted (dry run) beside measured" in summary
    assert "| tiny-b1-f2-r64-fp32 | mobius |" in summary.split("## Predicted")[1]


def test_report_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "summary.md").write_text("earlier")
    assert main(["report", str(FIXTURE), "--out", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["summary.md"]
    assert (out / "summary.md").read_text() == "earlier"


def _no_records(data: dict) -> None:
    for bench in data["benchmarks"]:
        bench["extra_info"] = {}


def _future_schema(data: dict) -> None:
    data["benchmarks"][0]["extra_info"]["schema"] = "mobius-bench/9"


def _empty(data: dict) -> None:
    data["benchmarks"] = []
    data["mobius_failed_records"] = []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.json", "no such file"),
        (lambda d: _write(d, "{not json"), "not JSON"),
        (
            lambda d: _write(d, json.dumps({"tool": "other", "results": []})),
            "not a pytest-benchmark JSON or a mobius-bench dry run",
        ),
        (
            lambda d: _doctored(d, _no_records),
            "a pytest-benchmark JSON without mobius-bench records",
        ),
        (
            lambda d: _doctored(d, _future_schema),
            "record of unknown schema version 'mobius-bench/9'",
        ),
        (lambda d: _doctored(d, _empty), "an empty run: no benchmarks in it"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, message: str
) -> None:
    path = make(tmp_path)
    out = tmp_path / "report"
    for argv in (["report", str(path), "--out", str(out)], ["compare", str(FIXTURE), str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert (
            err
            == f"mobius-bench: error: {path}: {message}" + err[err.index(message) + len(message) :]
        )
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
    assert not list(tmp_path.glob(".report*"))  # no staging folder left behind


def _write(folder: Path, text: str) -> Path:
    path = folder / "input.json"
    path.write_text(text)
    return path


def test_compare_passes_a_run_against_itself(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(FIXTURE), str(FIXTURE)]) == 0
    out = capsys.readouterr().out
    assert "| flops | " in out and "# no regression" in out


def test_compare_fails_a_doctored_flop_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def more_flops(data: dict) -> None:
        data["benchmarks"][2]["extra_info"]["flops"]["total"] += 2

    new = _doctored(tmp_path, more_flops)
    assert main(["compare", str(FIXTURE), str(new)]) == 1
    assert "REGRESSION: changed" in capsys.readouterr().out


def _scaled_times(factor: float, jitter: float = 0.0):
    def scale(data: dict) -> None:
        for bench in data["benchmarks"]:
            time = bench["extra_info"]["time"]
            time["samples_ms"] = [
                s * factor * (1 + jitter * (-1) ** i) for i, s in enumerate(time["samples_ms"])
            ]
            time["median_ms"] *= factor

    return scale


def test_compare_fails_a_real_slowdown_but_not_noise(tmp_path: Path) -> None:
    base = load(FIXTURE)
    slow = load(_doctored(tmp_path, _scaled_times(2.0), "slow.json"))
    noisy = load(_doctored(tmp_path, _scaled_times(1.0, jitter=0.05), "noisy.json"))
    assert compare(base, slow, 0.10, 0.02).regressions > 0
    assert compare(base, noisy, 0.10, 0.02).regressions == 0


def test_compare_refuses_time_and_memory_across_gpus(tmp_path: Path) -> None:
    def other_gpu(data: dict) -> None:
        data["machine_info"]["mobius"]["gpu"] = "NVIDIA H200"

    result = compare(load(FIXTURE), load(_doctored(tmp_path, _scaled_times(3.0))), 0.1, 0.02)
    assert result.regressions > 0
    moved = load(_doctored(tmp_path, lambda d: (other_gpu(d), _scaled_times(3.0)(d)), "h200.json"))
    result = compare(load(FIXTURE), moved, 0.1, 0.02)
    assert result.regressions == 0
    assert any("time and memory not compared" in note for note in result.notes)
    assert all(row["figure"] != "time_median_ms" for row in result.rows)


def test_compare_lists_one_sided_cases(tmp_path: Path) -> None:
    def drop_case(data: dict) -> None:
        data["benchmarks"] = [b for b in data["benchmarks"] if "b2" not in b["group"]]

    result = compare(load(FIXTURE), load(_doctored(tmp_path, drop_case)), 0.1, 0.02)
    assert result.regressions == 0
    assert sum(note.startswith("only in base: tiny-b2") for note in result.notes) == 3


def test_baseline_keeps_only_deterministic_figures(tmp_path: Path) -> None:
    out = tmp_path / "baseline.json"
    assert main(["baseline", str(FIXTURE), "--out", str(out)]) == 0
    record = json.loads(out.read_text())["benchmarks"][0]["extra_info"]
    assert {"flops", "saved", "params"} <= set(record) and "time" not in record
    assert main(["compare", str(out), str(FIXTURE)]) == 0
    assert main(["baseline", str(FIXTURE), "--out", str(out)]) == 2  # no silent overwrite
    doctored = copy.deepcopy(json.loads(out.read_text()))
    doctored["benchmarks"][0]["extra_info"]["saved"]["bytes"] += 1
    (tmp_path / "moved.json").write_text(json.dumps(doctored))
    assert main(["compare", str(out), str(tmp_path / "moved.json")]) == 1


def test_report_links_the_run_s_profile(tmp_path: Path) -> None:
    run = tmp_path / "run" / "run.json"
    run.parent.mkdir()
    run.write_text(FIXTURE.read_text())
    (run.parent / "profile").mkdir()
    (run.parent / "profile" / "profile.md").write_text("# profile")
    assert main(["report", str(run), "--out", str(run.parent / "report")]) == 0
    summary = (run.parent / "report" / "summary.md").read_text()
    assert "Profile of this run: [../profile/profile.md](../profile/profile.md)" in summary


def _as_if_on_a_gpu(data: dict) -> None:
    """Give the fixture's records the figures a CUDA run has: allocator and NVML peaks."""
    data["machine_info"]["mobius"]["gpu"] = "NVIDIA H100 80GB HBM3"
    peaks = {"serial": 10 * 2**30, "serial-ckpt": 6 * 2**30, "mobius": 7 * 2**30}
    for bench in data["benchmarks"]:
        record = bench["extra_info"]
        peak = peaks[record["case"]["variant"]] * record["case"]["batch"]
        record["memory"].update(peak_allocated=peak, peak_reserved=peak, nvml_peak=peak + 2**29)


def test_report_of_a_gpu_like_run_judges_allocator_memory(tmp_path: Path) -> None:
    run = _doctored(tmp_path, _as_if_on_a_gpu)
    out = tmp_path / "report"
    assert main(["report", str(run), "--out", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert "Peak memory is the allocator peak." in summary
    assert "10.00 GiB (NVML 10.50 GiB)" in summary
    assert "| +30.00% | PASS |" in summary  # 7 GiB against 10 GiB


def test_memory_sweeps_mark_out_of_memory(tmp_path: Path) -> None:
    import pandas as pd

    from mobius_core.report.plots import memory_sweeps

    rows = [
        {
            "preset": "sd15",
            "batch": 1,
            "frames": f,
            "resolution": 256,
            "dtype": "bf16",
            "variant": v,
            "status": "oom" if (v, f) == ("serial", 32) else "ok",
            "peak_allocated": None if (v, f) == ("serial", 32) else f * gib * 2**30,
            "nvml_peak": None if (v, f) == ("serial", 32) else (f * gib + 1) * 2**30,
        }
        for f in (8, 16, 32)
        for v, gib in (("serial", 1.0), ("mobius", 0.7))
    ]
    assert memory_sweeps(pd.DataFrame(rows), tmp_path / "sweeps.png") is None
    assert (tmp_path / "sweeps.png").read_bytes()[:4] == b"\x89PNG"
    no_sweep = pd.DataFrame(rows[:2])
    assert (
        memory_sweeps(no_sweep, tmp_path / "none.png") == "no frame or resolution sweep in this run"
    )
