"""The report from the committed fixture run and doctored copies of it, with the verdicts
their numbers imply worked out by hand."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mobius_core.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
RUN, DRY = FIXTURES / "tiny-run.json", FIXTURES / "tiny-dryrun.json"
ALL_PLOTS = [
    "savings.png",
    "memory_sweeps.png",
    "time_vs_batch.png",
    "memory_breakdown.png",
    "flops_by_region.png",
    "time_distribution.png",
]
GIB = 2**30


def _doctored(folder: Path, change: Callable[[dict], Any], name: str = "new.json") -> Path:
    data = json.loads(RUN.read_text())
    change(data)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def _report(tmp_path: Path, *runs: Path) -> Path:
    out = tmp_path / "report"
    assert main(["report", *map(str, runs), "--out", str(out)]) == 0
    return out


def test_report_writes_every_file_with_the_verdicts_its_numbers_imply(tmp_path: Path) -> None:
    out = _report(tmp_path, RUN)
    # a CPU run has no allocator peak: that plot is skipped, and the summary says so
    expected = {"summary.md", "cases.csv", "cases.md", *ALL_PLOTS} - {"memory_sweeps.png"}
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    summary = (out / "summary.md").read_text()
    assert "skipped `memory_sweeps.png`: no allocator peak" in summary
    # memory (CPU proxy, parameters+gradients+optimizer+saved), from the fixture's breakdowns:
    # b1: serial 5855632+1741696+3484120+4596096 = 15677544, mobius 13974856: saving 10.86%
    # b2: serial 20273640, mobius 16781640: saving 17.22%; both below 24%: FAIL.
    # time: b1 ratio 0.8186 [0.7407, 0.8901] -> saving 18.1% [11.0%, 25.9%], straddles 12%;
    # b2 ratio 0.7688 [0.6573, 1.1489] -> saving 23.1% [-14.9%, 34.3%]: INCONCLUSIVE both.
    assert "| +10.9% | FAIL | +18.1% [+11.0%, +25.9%] | INCONCLUSIVE |" in summary
    assert "| +17.2% | FAIL | +23.1% [-14.9%, +34.3%] | INCONCLUSIVE |" in summary
    assert "the least at tiny-b1-f2-r64-fp32 (18.1%" in summary
    assert "The memory verdict's tolerance is zero" in summary
    rows = list(csv.DictReader((out / "cases.csv").read_text().splitlines()))
    assert len(rows) == 6 and rows[2]["flops_backward_spatial"] == "0"  # mobius: no grad
    for plot in expected - {"summary.md", "cases.csv", "cases.md"}:
        assert (out / plot).read_bytes()[:4] == b"\x89PNG"


def test_report_sets_a_dry_run_beside_the_measurement(tmp_path: Path) -> None:
    summary = (_report(tmp_path, RUN, DRY) / "summary.md").read_text()
    predicted = summary.split("## Predicted (dry run) beside measured")[1]
    # tiny-b1 mobius: 288,581,632 FLOPs predicted, 288,743,424 measured (both files)
    assert "| tiny-b1-f2-r64-fp32 | mobius | 288.58 MFLOP | 288.74 MFLOP |" in predicted


def test_report_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "summary.md").write_text("earlier")
    assert main(["report", str(RUN), "--out", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["summary.md"]


def test_report_links_the_run_s_profile(tmp_path: Path) -> None:
    run = tmp_path / "run" / "run.json"
    run.parent.mkdir()
    run.write_text(RUN.read_text())
    (run.parent / "profile").mkdir()
    (run.parent / "profile" / "profile.md").write_text("# profile")
    assert main(["report", str(run), "--out", str(run.parent / "report")]) == 0
    summary = (run.parent / "report" / "summary.md").read_text()
    assert "Profile of this run: [../profile/profile.md](../profile/profile.md)" in summary


def _on_a_gpu(peaks: dict[str, list[float]]) -> Callable[[dict], None]:
    """The fixture's records as a CUDA run's: allocator peaks (GiB, one per memory pass)."""

    def change(data: dict) -> None:
        data["machine_info"]["mobius"]["gpu"] = "NVIDIA H100 80GB HBM3"
        for bench in data["benchmarks"]:
            record = bench["extra_info"]
            passes = [round(p * GIB) for p in peaks[record["variant"]["name"]]]
            record["memory"].update(
                peak_allocated=passes[0],
                peak_allocated_samples=passes,
                peak_reserved=passes[0],
                nvml_peak=passes[0] + 2**29,
            )

    return change


def test_a_gpu_like_run_is_judged_on_allocator_memory(tmp_path: Path) -> None:
    run = _doctored(tmp_path, _on_a_gpu({"serial": [10], "serial-ckpt": [6], "mobius": [7]}))
    summary = (_report(tmp_path, run) / "summary.md").read_text()
    assert "Peak memory is the allocator peak." in summary
    assert "10.00 GiB (NVML 10.50 GiB)" in summary
    assert "| +30.0% | PASS |" in summary  # 7 GiB against 10 GiB


def _counted_on_a_cpu(mib: dict[str, float]) -> Callable[[dict], None]:
    """The fixture's records with a CPU peak counted op by op (MiB); a variant left out of
    `mib` keeps none, as a compiled or ranked CPU run."""

    def change(data: dict) -> None:
        for bench in data["benchmarks"]:
            record = bench["extra_info"]
            if record["variant"]["name"] in mib:
                record["memory"]["peak_live"] = round(mib[record["variant"]["name"]] * 2**20)

    return change


def test_a_cpu_run_is_judged_on_its_counted_peak_and_meets_the_dry_run(tmp_path: Path) -> None:
    run = _doctored(tmp_path, _counted_on_a_cpu({"serial": 10, "serial-ckpt": 6, "mobius": 7}))
    dry = json.loads(DRY.read_text())
    dry["records"][2]["peak"] = 5 * 2**20  # mobius's simulated peak: 7 MiB counted, 40% more
    (tmp_path / "dry.json").write_text(json.dumps(dry))
    summary = (_report(tmp_path, run, tmp_path / "dry.json") / "summary.md").read_text()
    assert "Peak memory is the peak of live tensors (CPU, counted op by op)." in summary
    assert "| +30.0% | PASS |" in summary  # 7 MiB against 10 MiB
    predicted = summary.split("## Predicted (dry run) beside measured")[1]
    row = predicted.split("| tiny-b1-f2-r64-fp32 | mobius |")[1].split("\n")[0]
    assert row.endswith("| 5.0 MiB | 7.0 MiB | +40.0% |"), row


def test_a_record_without_a_counted_peak_falls_back_to_the_proxy_and_says_so(
    tmp_path: Path,
) -> None:
    run = _doctored(tmp_path, _counted_on_a_cpu({"serial": 10, "mobius": 7}))
    out = _report(tmp_path, run)
    summary = (out / "summary.md").read_text()
    assert (
        "Peak memory is the peak of live tensors (CPU, counted op by op), else"
        " parameters+gradients+optimizer+saved (CPU proxy)." in summary
    )
    rows = list(csv.DictReader((out / "cases.csv").read_text().splitlines()))
    ckpt = next(r for r in rows if r["variant"] == "serial-ckpt")
    parts = ("mem_parameters", "mem_gradients", "mem_optimizer", "mem_saved")
    assert ckpt["peak_live"] == "" and all(ckpt[p] for p in parts)


def test_a_verdict_shows_the_digits_that_decide_it(tmp_path: Path) -> None:
    # mobius at 0.76004 of serial: a saving of 23.996%, below 24%, so not "+24.0%"
    run = _doctored(tmp_path, _on_a_gpu({"serial": [10], "serial-ckpt": [6], "mobius": [7.6004]}))
    summary = (_report(tmp_path, run) / "summary.md").read_text()
    assert "| +23.996% | FAIL |" in summary


def test_the_memory_verdict_allows_for_the_passes_spread(tmp_path: Path) -> None:
    # serial's passes 10 and 10.1 GiB, mobius's 7.6 and 7.7: the saving runs from
    # 1 - 7.7/10 = 23.0% to 1 - 7.6/10.1 = 24.75%; 24% lies within it (each end shown
    # with one decimal: both already lie on their side of 24%)
    peaks = {"serial": [10, 10.1], "serial-ckpt": [6, 6], "mobius": [7.6, 7.7]}
    summary = (_report(tmp_path, _doctored(tmp_path, _on_a_gpu(peaks))) / "summary.md").read_text()
    assert "| +24.0% [+23.0%, +24.8%] | INCONCLUSIVE |" in summary
    assert "The memory verdict allows for the spread of the memory passes" in summary
    assert "(half-width at most 0.876% here)" in summary  # (24.752% - 23.0%) / 2


def test_runs_that_share_cases_are_merged_with_samples_pooled(tmp_path: Path) -> None:
    def slower_serial_b1(data: dict) -> None:
        time = data["benchmarks"][0]["extra_info"]["time"]
        time["samples_ms"] = [s + 100 for s in time["samples_ms"]]

    later = _doctored(tmp_path, slower_serial_b1, "later.json")
    out = _report(tmp_path, RUN, later)
    summary = (out / "summary.md").read_text()
    assert "Merged: 6 case/variant records appeared more than once" in summary
    rows = list(csv.DictReader((out / "cases.csv").read_text().splitlines()))
    assert len(rows) == 6
    # serial b1 pooled: 35.22 36.12 46.16 48.62 | 135.22 136.12 146.16 148.62
    assert float(rows[0]["time_median_ms"]) == pytest.approx((48.617345 + 135.224882) / 2)


def test_a_run_with_a_case_twice_is_merged(tmp_path: Path) -> None:
    def twice(data: dict) -> None:  # as `--batch 1,1` gives
        data["benchmarks"] += data["benchmarks"][:3]

    summary = (_report(tmp_path, _doctored(tmp_path, twice)) / "summary.md").read_text()
    assert "Merged: 3 case/variant records appeared more than once" in summary
    assert summary.count("| tiny-b1-f2-r64-fp32 | mobius | ok |") == 1


def test_one_case_is_not_named_both_best_and_worst(tmp_path: Path) -> None:
    def one_case(data: dict) -> None:
        data["benchmarks"] = data["benchmarks"][:3]

    summary = (_report(tmp_path, _doctored(tmp_path, one_case)) / "summary.md").read_text()
    assert "Mobius saves 18.1% of the time at tiny-b1-f2-r64-fp32, the one case judged" in summary
    assert "the least at" not in summary


def test_the_baseline_variant_is_the_one_its_record_names(tmp_path: Path) -> None:
    def ckpt_as_baseline(data: dict) -> None:
        for bench in data["benchmarks"]:
            variant = bench["extra_info"]["variant"]
            variant["baseline"] = variant["name"] == "serial-ckpt"

    summary = (_report(tmp_path, _doctored(tmp_path, ckpt_as_baseline)) / "summary.md").read_text()
    # b1 mobius 13974856 against serial-ckpt 11846760 bytes: a saving of -17.96%
    assert "| -18.0% | FAIL |" in summary


def test_plots_take_their_colours_from_the_records(tmp_path: Path) -> None:
    def purple(data: dict) -> None:
        for bench in data["benchmarks"]:
            bench["extra_info"]["variant"]["colour"] = "tab:purple"

    first = _report(tmp_path / "a", RUN) / "time_vs_batch.png"
    second = _report(tmp_path / "b", _doctored(tmp_path, purple)) / "time_vs_batch.png"
    assert first.read_bytes() != second.read_bytes()


def test_an_interrupted_run_is_reported_as_such(tmp_path: Path) -> None:
    def interrupted(data: dict) -> None:
        data["interrupted"] = True
        data["benchmarks"][5]["extra_info"]["status"] = "interrupted"

    run = _doctored(tmp_path, interrupted)
    summary = (_report(tmp_path, run) / "summary.md").read_text()
    assert f"Interrupted: {run} was stopped early" in summary
    assert "not measured: tiny-b2-f2-r64-fp32 mobius: interrupted." in summary


def test_a_gpu_run_sets_the_allocator_s_saved_bytes_beside_the_prediction(
    tmp_path: Path,
) -> None:
    def allocator(data: dict) -> None:
        _on_a_gpu({"serial": [10], "serial-ckpt": [6], "mobius": [7]})(data)
        # the dry run predicts 2,814,976 bytes saved by tiny-b1 mobius: measure 1.5 times that
        data["benchmarks"][2]["extra_info"]["saved"]["allocator_bytes"] = 4222464

    dry = json.loads(DRY.read_text())
    dry["records"][2]["peak"] = 5 * GIB  # mobius's simulated peak: 7 GiB measured is 40% more
    (tmp_path / "dry.json").write_text(json.dumps(dry))
    run = _doctored(tmp_path, allocator)
    summary = (_report(tmp_path, run, tmp_path / "dry.json") / "summary.md").read_text()
    predicted = summary.split("## Predicted (dry run) beside measured")[1]
    assert "| peak predicted | peak measured | peak gap | saved measured (allocator) | gap |" in (
        predicted
    )
    row = predicted.split("| tiny-b1-f2-r64-fp32 | mobius |")[1].split("\n")[0]
    assert row.endswith("| 5.00 GiB | 7.00 GiB | +40.0% | 4.0 MiB | +50.0% |")


def test_an_fsdp_case_sets_no_simulated_peak_beside_a_rank_s(tmp_path: Path) -> None:
    """The dry run's peak is one unsharded process's: no peak gap beside a rank's peak."""

    def sharded(data: dict) -> None:
        _on_a_gpu({"serial": [10], "serial-ckpt": [6], "mobius": [7]})(data)
        for bench in data["benchmarks"]:
            bench["extra_info"]["case"].update(mode="fsdp", world_size=2)
        data["benchmarks"][2]["extra_info"]["saved"]["allocator_bytes"] = 4222464

    dry = json.loads(DRY.read_text())
    for record in dry["records"]:
        record["case"].update(mode="fsdp", world_size=2)
        record["peak"] = 5 * GIB
    (tmp_path / "dry.json").write_text(json.dumps(dry))
    run = _doctored(tmp_path, sharded)
    summary = (_report(tmp_path, run, tmp_path / "dry.json") / "summary.md").read_text()
    predicted = summary.split("## Predicted (dry run) beside measured")[1]
    row = predicted.split("| tiny-b1-f2-r64-fp32-fsdp-w2 | mobius |")[1].split("\n")[0]
    cells = [c.strip() for c in row.split("|")[:-1]]
    # FLOPs and saved bytes predicted and measured, then no peak predicted, 7 GiB, no gap
    assert cells[4:7] == ["", "7.00 GiB", ""], cells


def test_the_summary_opens_with_the_headline(tmp_path: Path) -> None:
    summary = (_report(tmp_path, RUN) / "summary.md").read_text()
    # the fixture's larger case (serial: 742,809,600 FLOPs against 371,404,800), on its CPU
    assert summary.split("\n")[2].startswith(
        "On Intel(R) Xeon(R) Processor with 2 cores, at tiny-b2-f2-r64-fp32, mobius used"
        " 0.83\u00d7 serial's peak memory (FAIL against 24%)"
    )
    assert "- the plots of one case (memory_breakdown.png, flops_by_region.png," in summary
    assert "time_distribution.png) show tiny-b2-f2-r64-fp32" in summary
    assert "claims_map.png" not in summary  # this report has no claims map to link


def test_case_picks_the_case_of_the_sentence_and_of_the_one_case_plots(tmp_path: Path) -> None:
    out = tmp_path / "report"
    argv = ["report", str(RUN), "--out", str(out), "--case", "tiny-b1-f2-r64-fp32"]
    assert main(argv) == 0
    summary = (out / "summary.md").read_text()
    # b1: memory 13,974,856 / 15,677,544 = 0.891; time 0.8186 [0.7407, 0.8901]
    assert summary.split("\n")[2].endswith(
        "at tiny-b1-f2-r64-fp32, mobius used 0.89\u00d7 serial's peak memory (FAIL against"
        " 24%) and 0.82\u00d7 its step time [0.74, 0.89] (INCONCLUSIVE against 12%). Peak"
        " memory here is the parameters+gradients+optimizer+saved (CPU proxy)."
    )
    assert "time_distribution.png) show tiny-b1-f2-r64-fp32" in summary


def test_an_unknown_case_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["report", str(RUN), "--out", str(tmp_path / "r"), "--case", "tiny-b9"]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "mobius-bench: error: --case: no case 'tiny-b9' in the runs; they hold"
        " tiny-b1-f2-r64-fp32, tiny-b2-f2-r64-fp32\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_all_cases_writes_a_set_of_one_case_plots_per_case(tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["report", str(RUN), "--out", str(out), "--all-cases"]) == 0
    plots = ["flops_by_region.png", "memory_breakdown.png", "time_distribution.png"]
    for case in ("tiny-b1-f2-r64-fp32", "tiny-b2-f2-r64-fp32"):
        assert sorted(p.name for p in (out / "cases" / case).iterdir()) == plots
    headline = out / "cases" / "tiny-b2-f2-r64-fp32" / "memory_breakdown.png"
    assert headline.read_bytes() == (out / "memory_breakdown.png").read_bytes()
    assert (
        "- `cases/<case>/`: the plots of one case, for each case"
        in (out / "summary.md").read_text()
    )
