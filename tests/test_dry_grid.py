"""`dry-run --grid`: the axes it parses, what it refuses before any work, and a grid whose
every point is the plain dry run at that shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mobius_core.cli import main
from mobius_core.errors import BadInput
from mobius_core.report.grid import Grid
from mobius_core.run.dry_grid import grid_variants, parse_axes


def test_axes_are_batches_frames_resolutions() -> None:
    assert parse_axes("1,2,4,8/8,16/256,384") == ([1, 2, 4, 8], [8, 16], [256, 384])
    for bad, why in (
        ("1,2/8", "BATCHES/FRAMES"),
        ("1/8/x", "whole numbers"),
        ("0/8/64", "positive"),
    ):
        with pytest.raises(BadInput, match=why):
            parse_axes(bad)


def test_a_grid_is_of_serial_and_mobius() -> None:
    assert grid_variants(None) == ["serial", "mobius"]
    assert grid_variants("mobius,serial,serial-ckpt") == ["mobius", "serial", "serial-ckpt"]
    with pytest.raises(BadInput, match="needs serial and mobius"):
        grid_variants("serial,serial-ckpt")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give --json FILE"),
        (["--json", "{tmp}/g.json", "--batch", "2"], "drop --batch"),
        (["--json", "{tmp}/g.json", "--rejoin", "1"], "not with --rejoin"),
        (["--json", "{tmp}/old.json"], "exists"),
    ],
)
def test_bad_grid_options_are_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    (tmp_path / "old.json").write_text("{}")
    words = [w.format(tmp=tmp_path) for w in extra]
    assert main(["dry-run", "--preset", "tiny", "--grid", "1/4/64", *words]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "old.json").read_text() == "{}" and not (tmp_path / "g.json").exists()


def test_every_grid_point_is_the_plain_dry_run_at_its_shape(tmp_path: Path) -> None:
    grid_file, plot = tmp_path / "grid.json", tmp_path / "map.png"
    assert main(["dry-run", "--preset", "tiny", "--grid", "2/8/128", "--json", str(grid_file),
                 "--plot", str(plot)]) == 0  # fmt: skip
    grid = Grid.from_dict(json.loads(grid_file.read_text()))
    assert (grid.batches, grid.frames, grid.resolutions) == ([2], [8], [128])
    plain = tmp_path / "plain.json"
    shape = ["--batch", "2", "--frames", "8", "--resolution", "128"]
    assert main(["dry-run", "--preset", "tiny", "--variants", "serial,mobius", *shape,
                 "--json", str(plain)]) == 0  # fmt: skip
    at = grid.at((2, 8, 128))
    assert at is not None
    assert at.to_dict() == json.loads(plain.read_text())
    assert plot.stat().st_size > 0
