"""The command line: a table from `step`, and one-line errors with exit 2 on bad input."""

from __future__ import annotations

import pytest

from mobius_core.cli import main


def test_step_prints_a_row_per_variant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["step", "--preset", "tiny", "--device", "cpu", "--frames", "2"]) == 0
    out = capsys.readouterr().out
    for variant in ("| serial |", "| serial-ckpt |", "| mobius |"):
        assert variant in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["step", "--frames", "99"], "frames: 99 is above temporal_positions=8"),
        (["step", "--preset", "huge"], "preset: unknown preset 'huge'"),
        (["step", "--dtype", "fp8"], "dtype: unknown dtype 'fp8'"),
        (["step", "--device", "tpu"], "device: unknown device 'tpu'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mobius-bench: error: " + message)
    assert err.count("\n") == 1
