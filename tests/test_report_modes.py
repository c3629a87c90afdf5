"""The report with more than one execution mode: a `mode` column in the claims table, a
verdict per mode (none for CPU ddp and fsdp, a correctness check), and the modes side by
side; figures worked out by hand from the fixture."""

from __future__ import annotations

import json
from pathlib import Path

from mobius_core.cli import main

RUN = Path(__file__).parent / "fixtures" / "tiny-run.json"
COMPILE = {  # variant -> its compile figures in the doctored run (cold: the memory process's)
    "serial": {"seconds": 30.0, "cold_seconds": 95.0, "compiles": 1, "recompiles": 0},
    "serial-ckpt": {"seconds": 41.0, "compiles": 1, "recompiles": 0, "timed_recompiles": 0},
    "mobius": {"seconds": 12.5, "cold_seconds": 40.5, "compiles": 2, "recompiles": 1},
}
for figures in COMPILE.values():
    figures.setdefault("timed_recompiles", 0)


def _compiled_copy(folder: Path) -> Path:
    """The fixture run as if compiled: mobius twice as fast as serial, [0.4, 0.6]."""
    data = json.loads(RUN.read_text())
    for bench in data["benchmarks"]:
        record = bench["extra_info"]
        record["case"]["mode"] = "compile"
        record["case"]["key"] += "-compile"
        record["compile"] = COMPILE[record["variant"]["name"]]
        if record["variant"]["name"] == "mobius":
            record["ratio_to_baseline"] = {"ratio": 0.5, "low": 0.4, "high": 0.6}
    path = folder / "compiled.json"
    path.write_text(json.dumps(data))
    return path


def _distributed_copy(folder: Path, mode: str, ratio: dict[str, float]) -> Path:
    """The fixture run (CPU) as if run under `mode` over 2 ranks, mobius's time ratio set to
    `ratio`; under fsdp each rank holds half of every parameter, gradient and AdamW state."""
    data = json.loads(RUN.read_text())
    for bench in data["benchmarks"]:
        record = bench["extra_info"]
        record["case"].update(mode=mode, world_size=2, key=record["case"]["key"] + f"-{mode}-w2")
        if mode == "fsdp":
            parts = record["memory"]["breakdown"]
            for part in ("parameters", "gradients", "optimizer"):
                parts[part] //= 2
        if record["variant"]["name"] == "mobius":
            record["ratio_to_baseline"] = ratio
    path = folder / f"{mode}.json"
    path.write_text(json.dumps(data))
    return path


def _summary(tmp_path: Path, *runs: Path) -> str:
    out = tmp_path / "report"
    assert main(["report", *map(str, runs), "--out", str(out)]) == 0
    return (out / "summary.md").read_text()


def test_one_mode_shows_no_mode_column_and_no_modes_section(tmp_path: Path) -> None:
    summary = _summary(tmp_path, RUN)
    assert "| case | variant | status |" in summary
    assert "Modes side by side" not in summary


def test_two_modes_get_a_mode_column_a_verdict_each_and_a_side_by_side_table(
    tmp_path: Path,
) -> None:
    summary = _summary(tmp_path, RUN, _compiled_copy(tmp_path))
    assert "| case | mode | variant | status |" in summary
    # eager b1: time ratio 0.8186 [0.7407, 0.8901] -> saving 18.1% [11.0%, 25.9%], INCONCLUSIVE;
    # compiled b1: ratio 0.5 [0.4, 0.6] -> saving 50% [40%, 60%], all above 12%: PASS.
    # memory (CPU proxy, the same in both): serial 15677544, mobius 13974856 -> 10.9%, FAIL
    assert (
        "| tiny-b1-f2-r64-fp32 | eager | mobius | ok |" in summary
        and "| +10.9% | FAIL | +18.1% [+11.0%, +25.9%] | INCONCLUSIVE |" in summary
    )
    assert "| tiny-b1-f2-r64-fp32-compile | compile | mobius | ok |" in summary
    assert "| +10.9% | FAIL | +50.0% [+40.0%, +60.0%] | PASS |" in summary
    section = summary[summary.index("## Modes side by side") :]
    # memory ratio 13974856 / 15677544 = 0.891; compile seconds (warm, then cold) and
    # recompiles (warm-up/timed) of serial, then mobius
    assert "| tiny-b1-f2-r64-fp32 | eager | 1 | 0.819 [0.741, 0.890] | 0.891 |  |  |  |" in section
    assert (
        "| tiny-b1-f2-r64-fp32 | compile | 1 | 0.500 [0.400, 0.600] | 0.891 | 30.0, 12.5"
        " | 95.0, 40.5 | 0/0, 1/0 |" in section
    )
    # b2: serial 20273640, mobius 16781640 -> 0.828; the eager line first, then compile
    b2 = section.index("| tiny-b2-f2-r64-fp32 | eager | 1 | 0.769 [0.657, 1.149] | 0.828 |")
    assert b2 < section.index("| tiny-b2-f2-r64-fp32 | compile | 1 | 0.500")


HALF = {"ratio": 0.5, "low": 0.4, "high": 0.6}  # a 50% time saving [40%, 60%]


def test_cpu_ddp_cases_are_a_correctness_check_without_verdict_or_rank(tmp_path: Path) -> None:
    summary = _summary(tmp_path, RUN, _distributed_copy(tmp_path, "ddp", HALF))
    # ddp b1: memory 10.9% (as eager), time 50% [40%, 60%]: shown, but no PASS or FAIL
    assert (
        "| tiny-b1-f2-r64-fp32-ddp-w2 | ddp | mobius | ok |" in summary
        and "| +10.9% | correctness check | +50.0% [+40.0%, +60.0%] | correctness check |"
        in summary
    )
    assert "a correctness check of the distributed step, not a performance claim" in summary
    # the ranking holds the eager cases only: b2 saves 1 - 0.7688 = 23.1%, b1 18.1%; the
    # ddp cases' 50% would otherwise be the most
    assert (
        "Mobius saves the most time at tiny-b2-f2-r64-fp32 (23.1%, memory 17.2%) and the"
        " least at tiny-b1-f2-r64-fp32 (18.1%, memory 10.9%)." in summary
    )


def test_a_cpu_ddp_run_alone_gets_no_verdict_in_its_opening_or_ranking(tmp_path: Path) -> None:
    summary = _summary(tmp_path, _distributed_copy(tmp_path, "ddp", HALF))
    opening = summary.split("\n")[2]
    assert "at tiny-b2-f2-r64-fp32-ddp-w2," in opening and "correctness check" in opening
    assert "PASS" not in opening and "FAIL" not in opening
    assert "Mobius saves the most" not in summary and "the one case judged" not in summary
    assert "No case is judged against the claims" in summary


def test_modes_side_by_side_sets_ddp_and_fsdp_at_world_size_2(tmp_path: Path) -> None:
    fsdp_ratio = {"ratio": 1.25, "low": 1.1, "high": 1.4}
    runs = [_distributed_copy(tmp_path, m, r) for m, r in (("ddp", HALF), ("fsdp", fsdp_ratio))]
    section = _summary(tmp_path, RUN, *runs).split("## Modes side by side")[1]
    # eager and ddp b1: memory 13974856 / 15677544 = 0.891 (the same state on each rank)
    assert "| tiny-b1-f2-r64-fp32 | eager | 1 | 0.819 [0.741, 0.890] | 0.891 |  |  |" in section
    assert "| tiny-b1-f2-r64-fp32 | ddp | 2 | 0.500 [0.400, 0.600] | 0.891 |  |  |" in section
    # fsdp b1, half of each state per rank: serial 11081448 / 2 + 4596096 saved = 10136820,
    # mobius 11168072 / 2 + 2806784 = 8390820; 8390820 / 10136820 = 0.828
    assert "| tiny-b1-f2-r64-fp32 | fsdp | 2 | 1.250 [1.100, 1.400] | 0.828 |  |  |" in section
