"""The command line: a table from `step`, and one-line errors with exit 2 on bad input."""

from __future__ import annotations

import pytest
import torch

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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["step", "--frames", "abc"], "mobius-bench step: argument --frames: invalid int value"),
        (["launch"], "mobius-bench: argument command: invalid choice: 'launch'"),
    ],
)
def test_usage_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mobius-bench: error: {message}") and err.count("\n") == 1


def test_out_of_memory_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_memory(*_: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB\nmore")

    monkeypatch.setattr("mobius_core.run.quickstep.quick_steps", out_of_memory)
    assert main(["step", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "mobius-bench: error: out of memory: CUDA out of memory. Tried to allocate 80.00 GiB\n"
    )
