"""The report's sections from inputs beside the runs: a rejoin sweep and a converge record."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from mobius_core.cli import main
from mobius_core.report.sections import _shape, split

FIXTURES = Path(__file__).parent / "fixtures"
RUN = FIXTURES / "tiny-run.json"
REPORTS = Path(__file__).parents[1] / "reports"
SWEEP = REPORTS / "design/rejoin-sd15-b1-f16-r256-bf16.json"
CONVERGE = REPORTS / "cpu/20261127-converge/converge.json"  # serial +12.3% [+8.3%, +16.3%]


def test_inputs_are_sorted_by_kind() -> None:
    runs, extras = split([RUN, SWEEP])
    assert runs == [RUN]
    assert len(extras.sweeps) == 1 and extras.converges == []


def test_quality_matches_the_shape_whatever_the_batch() -> None:
    assert _shape("tiny-b2-f8-r64-fp32") == _shape("tiny-b1-f8-r64-fp32") == "tiny-f8-r64-fp32"
    assert _shape("tiny-b1-f4-r64-fp32") != _shape("tiny-b1-f8-r64-fp32")


def test_a_report_with_a_sweep_has_the_design_space(tmp_path: Path) -> None:
    assert main(["report", str(RUN), str(SWEEP), "--out", str(tmp_path / "r")]) == 0
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "## Which Mobius? The design space" in summary
    assert (tmp_path / "r" / "design_space.png").stat().st_size > 0
    assert "| 12 | +" in summary  # the last k of the committed sweep, predicted
    # the fixture measures mobius (k = 0) at tiny, whose k means another place: its own panel
    assert "**sd15**: dry run at `sd15-b1-f16-r256-bf16`." in summary
    assert "**tiny**: measured in `tiny-b1-f2-r64-fp32`, `tiny-b2-f2-r64-fp32`; measured" in summary


def test_a_broken_sweep_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "sweep.json"
    broken.write_text(json.dumps({"schema": "mobius-bench-rejoin/1"}))
    assert main(["report", str(RUN), str(broken), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "runs: missing" in err
    assert not (tmp_path / "r").exists()


def _with_rejoin_case(folder: Path) -> Path:
    """The fixture plus a case at k = 2: its own serial, and mobius-double with half serial's
    memory parts and a paired time ratio of 0.9 [0.85, 0.95]."""
    data = json.loads(RUN.read_text())
    serial = data["benchmarks"][0]
    for name in ("serial", "mobius-double"):
        bench = copy.deepcopy(serial)
        info = bench["extra_info"]
        info["case"] = {**info["case"], "rejoin": 2, "key": info["case"]["key"] + "-k2"}
        info["config"]["rejoin_positions"] = 2
        if name != "serial":
            info["variant"] = {"name": name, "label": name, "colour": "tab:red", "baseline": False}
            parts = info["memory"]["breakdown"]
            info["memory"]["breakdown"] = {k: v // 2 for k, v in parts.items()}
            info["ratio_to_baseline"] = {"ratio": 0.9, "low": 0.85, "high": 0.95, "method": "x"}
        bench["name"] = bench["fullname"] = f"{bench['name']}-k2-{name}"
        data["benchmarks"].append(bench)
    path = folder / "run.json"
    path.write_text(json.dumps(data))
    return path


def test_a_run_with_rejoin_cases_has_the_design_space_without_a_sweep(tmp_path: Path) -> None:
    """k = 2 by hand: memory 1 - 1/2 = +50.0% (PASS); time 1 - 0.9 = +10.0%, its interval
    [+5%, +15%] straddling 12% (INCONCLUSIVE)."""
    run = _with_rejoin_case(tmp_path)
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 0
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "## Which Mobius? The design space" in summary
    row = "| 2 | +50.0% | PASS | +10.0% | INCONCLUSIVE | no | tiny-b1-f2-r64-fp32-k2 |"
    assert row in summary
    assert "| 0 | +" in summary  # mobius, measured in the plain cases
    cases = (tmp_path / "r" / "cases.md").read_text().splitlines()
    header = [c.strip() for c in cases[0].split("|")]
    assert "rejoin" in header and "mode" not in header and "world_size" not in header
    column = header.index("rejoin")
    assert [line.split("|")[column].strip() for line in cases[2:]][-2:] == ["2", "2"]
    assert main(["report", str(RUN), "--out", str(tmp_path / "plain")]) == 0
    plain = (tmp_path / "plain" / "summary.md").read_text()
    assert "design space" not in plain  # no sweep and no rejoin case: no section
    assert "| rejoin |" not in (tmp_path / "plain" / "cases.md").read_text()


def test_converge_entries_with_k_add_what_each_k_learns(tmp_path: Path) -> None:
    data = json.loads(CONVERGE.read_text())
    data["variants"]["mobius"]["rejoin"] = 0
    data["variants"]["mobius-double"]["rejoin"] = 4  # tiny's every up position
    converge = tmp_path / "converge.json"
    converge.write_text(json.dumps(data))
    out = tmp_path / "r"
    assert main(["report", str(RUN), str(SWEEP), str(converge), "--out", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert "| 0 | mobius | -0.5% [-1.2%, +0.2%] | mobius learns less than serial |" in summary
    assert "| 4 | mobius-double | +0.1% [-2.1%, +2.3%] |" in summary
    assert "|  | serial | +12.3% [+8.3%, +16.3%] | (the reference) |" in summary
    assert "k counts tiny's up positions" in summary
