"""`mobius-bench converge` end to end at a toy budget: the folder, the record read back, every
variant starting at the 2D baseline, and the memory and time of a run of the same shape."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from converge_fixtures import parse, toy_options  # noqa: F401

from mobius_core.cli import main
from mobius_core.errors import BadInput
from mobius_core.report.converge_report import beside, is_converge, load, quality
from mobius_core.report.record import Case
from mobius_core.run import cmd_converge

FIXTURE = Path(__file__).parent / "fixtures" / "tiny-run.json"  # has tiny-b1-f2-r64-fp32


def test_converge_writes_a_report(toy: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cmd_converge.run(parse(*toy, "--out", str(out), "--run", str(FIXTURE))) == 0
    names = {p.name for p in out.iterdir()}
    assert names == {"converge.json", "summary.md", "loss_vs_step.png", "loss_vs_time.png",
                     "gain.png", "checkpoints"}  # fmt: skip
    saved = {p.name for p in (out / "checkpoints").iterdir()}
    assert saved == {"serial.safetensors", "mobius.safetensors"}  # seed 0 of each
    assert is_converge(out / "converge.json") and not is_converge(FIXTURE)
    record = load(out)
    assert record.case.key == "tiny-b1-f2-r64-fp32"
    assert list(record.variants) == ["serial", "mobius"]  # serial added: the reference
    assert len(record.records) == 4 and all(len(r.run.eval_loss) == 2 for r in record.records)
    for r in record.records:  # zero-initialised temporal outputs: all start at the 2D model
        for curve in (r.run, r.control):
            assert curve.eval_loss[0] == pytest.approx(record.baseline.overall, rel=1e-5)
    gain = json.loads((out / "converge.json").read_text())["variants"]["mobius"]
    assert set(gain["temporal_gain"]) >= {"mean", "low", "high"}
    assert {v.measure for v in record.verdicts} == {"overall", "high-noise"}
    summary = (out / "summary.md").read_text()
    assert "## Verdicts" in summary and "41.1 ms" in summary  # serial's step time, beside
    assert quality(record, "tiny-b1-f2-r64-fp32").startswith("temporal gain ")
    assert quality(record, "tiny-b1-f16-r64-fp32") is None
    assert main(["report", str(FIXTURE), str(out), "--out", str(tmp_path / "report")]) == 0
    claims = (tmp_path / "report" / "summary.md").read_text().split("## Claims")[1]
    header = next(line for line in claims.splitlines() if line.startswith("| case"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    row = next(line for line in claims.splitlines() if "| mobius |" in line and "b1-f2" in line)
    mobius = dict(zip(cells, [c.strip() for c in row.strip("|").split("|")], strict=True))
    gain = record.variants["mobius"].temporal_gain
    assert mobius["quality"].startswith(f"temporal gain {gain.mean:+.1%}")
    with pytest.raises(BadInput, match="no eager case of shape tiny-b1-f4-r64-fp32"):
        beside(FIXTURE, replace(record.case, frames=4))  # no case of this shape in the run


def test_beside_takes_each_entry_from_its_own_case() -> None:
    """A design sweep holds serial at the base case and beside mobius-double at each rejoin
    depth: serial's figures come from the base case, mobius-double-k2's from the k2 case
    (read here straight from the JSON)."""
    sweep = Path(__file__).parents[1] / "reports" / "cpu" / "20261127-design-tiny" / "run.json"
    median = {
        (b["extra_info"]["case"]["rejoin"], b["extra_info"]["variant"]["name"]):
        b["extra_info"]["time"]["median_ms"]
        for b in json.loads(sweep.read_text())["benchmarks"]
    }  # fmt: skip
    assert median[(None, "serial")] != median[(4, "serial")]  # the trap: two serial rows
    figures = beside(sweep, Case("tiny", 1, 8, 64, "fp32", "cpu"))
    assert figures["serial"]["time"] == f"{median[(None, 'serial')]:.1f} ms"
    assert figures["mobius-double-k2"]["time"] == f"{median[(2, 'mobius-double')]:.1f} ms"


def test_bad_input_before_the_work(toy: list[str], tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="--seeds: must be at least 2"):
        cmd_converge.run(parse(*toy, "--seeds", "1"))
    with pytest.raises(BadInput, match=r"--lr: must be a learning rate above 0, got -1\.0"):
        cmd_converge.run(parse(*toy, "--lr", "-1", "--cache", str(tmp_path / "cache")))
    with pytest.raises(BadInput, match="--pretrain-lr: must be a learning rate above 0, got nan"):
        cmd_converge.run(parse(*toy, "--pretrain-lr", "nan", "--cache", str(tmp_path / "cache")))
    (tmp_path / "taken").mkdir()
    with pytest.raises(BadInput, match="exists already"):
        cmd_converge.run(parse(*toy, "--out", str(tmp_path / "taken")))
    with pytest.raises(BadInput, match="needs a folder"):
        cmd_converge.run(parse(*toy, "--data", str(tmp_path / "none")))
    with pytest.raises(BadInput, match="no eager case of shape tiny-b1-f4-r64-fp32"):
        cmd_converge.run(parse(*toy, "--frames", "4", "--run", str(FIXTURE)))
    assert not (tmp_path / "cache").exists()  # nothing was trained


def test_ctrl_c_keeps_the_finished_seeds(
    toy: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the third seed: the first two are reported, the third is dropped."""
    from mobius_core.training import converge as training

    real = training.finetune

    def finetune(*args: object, **kwargs: object) -> object:
        if args[6] == 2:  # the seed
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "finetune", finetune)
    out = tmp_path / "out"
    seeds = [*toy[: toy.index("--seeds") + 1], "3", *toy[toy.index("--seeds") + 2 :]]
    assert cmd_converge.run(parse(*seeds, "--out", str(out))) == 130
    record = load(out)
    assert sorted({r.seed for r in record.records}) == [0, 1]
    assert record.settings["interrupted"] is True


def test_shape_follows_the_preset() -> None:
    """tiny: 8 frames at 64 px (its own 4 frames are short for motion); any other preset its
    own shape, sd15's being the claim shape (16 frames, 256 px); options given win."""
    assert cmd_converge.shape_of(parse()) == (8, 64)
    assert cmd_converge.shape_of(parse("--preset", "sd15")) == (16, 256)
    assert cmd_converge.shape_of(parse("--preset", "small")) == (8, 256)
    assert cmd_converge.shape_of(parse("--preset", "sd15", "--frames", "8")) == (8, 256)
    assert cmd_converge.shape_of(parse("--resolution", "32")) == (8, 32)
    with pytest.raises(BadInput, match="unknown preset 'sd21'"):
        cmd_converge.shape_of(parse("--preset", "sd21"))
