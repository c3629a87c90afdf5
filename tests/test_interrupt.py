"""Ctrl-C in `mobius-bench bench`: finished cases kept, the run marked, one line, exit 130."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from fakes import build, launch

from mobius_core.cli import main
from mobius_core.run import bench, runner


def test_ctrl_c_after_the_first_case_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_step, calls = runner.train_step, []

    def step_then_ctrl_c(model, optimizer, batch, *args):
        if batch.latents.shape[0] == 2:  # the second case: batch 2
            calls.append(model)
            if len(calls) == 3:  # its second round: one timed step of each variant done
                raise KeyboardInterrupt
        return real_step(model, optimizer, batch, *args)

    monkeypatch.setattr(runner, "train_step", step_then_ctrl_c)
    fast = functools.partial(bench.run_bench, launch=launch, build=build)
    monkeypatch.setattr(bench, "run_bench", fast)
    out = tmp_path / "run.json"
    suite = ["--preset", "tiny", "--frames", "2", "--resolution", "64", "--batch", "1,2"]
    suite += ["--rounds", "2", "--warmup", "0", "--variants", "serial,mobius"]
    code = main(["bench", "--", *suite, "--benchmark-json", str(out)])
    assert code == 130
    printed = capsys.readouterr()
    lines = [line for line in (printed.out + printed.err).splitlines() if "interrupted" in line]
    assert len(lines) == 1 and "Traceback" not in printed.err
    data = json.loads(out.read_text())
    assert data["interrupted"] is True
    records = [b["extra_info"] for b in data["benchmarks"]]
    statuses = [(r["case"]["batch"], r["variant"]["name"], r["status"]) for r in records]
    assert statuses == [
        (1, "serial", "ok"),
        (1, "mobius", "ok"),
        (2, "serial", "interrupted"),
        (2, "mobius", "interrupted"),
    ]
    assert (tmp_path / "run-report" / "summary.md").exists()
