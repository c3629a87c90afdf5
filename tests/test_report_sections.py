"""The report's sections from inputs beside the runs: a rejoin sweep and a converge record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mobius_core.cli import main
from mobius_core.report.sections import _shape, split

FIXTURES = Path(__file__).parent / "fixtures"
RUN = FIXTURES / "tiny-run.json"
SWEEP = Path(__file__).parents[1] / "reports/design/rejoin-sd15-b1-f16-r256-bf16.json"


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
    assert "| 12 | dry run" in summary  # the last k of the committed sweep


def test_a_broken_sweep_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "sweep.json"
    broken.write_text(json.dumps({"schema": "mobius-bench-rejoin/1"}))
    assert main(["report", str(RUN), str(broken), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "runs: missing" in err
    assert not (tmp_path / "r").exists()
