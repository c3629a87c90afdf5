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


def test_step_runs_only_the_variants_named(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["step", "--preset", "tiny", "--device", "cpu", "--frames", "2"]
    assert main([*argv, "--variants", "mobius,serial"]) == 0
    rows = [line.split("|")[1].strip() for line in capsys.readouterr().out.splitlines()[3:]]
    assert rows == ["mobius", "serial"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["step", "--frames", "99"], "frames: 99 is above temporal_positions=8"),
        (["step", "--preset", "huge"], "preset: unknown preset 'huge'"),
        (["step", "--dtype", "fp8"], "dtype: unknown dtype 'fp8'"),
        (["step", "--device", "tpu"], "device: unknown device 'tpu'"),
        (["step", "--variants", "serial,nope"], "--variants: unknown ['nope']"),
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
        (["step", "--frames", "abc"], "mobius-bench step: error: argument --frames: invalid int"),
        (["launch"], "mobius-bench: error: argument COMMAND: invalid choice: 'launch'"),
    ],
)
def test_usage_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert err.count("error:") == 1  # the prefix is not doubled


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("mobius-bench 0.")


def test_a_negative_value_reaches_the_option_check(capsys: pytest.CaptureFixture[str]) -> None:
    """`-5%` is a value to refuse in our words, not an unknown option to argparse."""
    assert main(["compare", "a.json", "b.json", "--time-tolerance", "-5%"]) == 2
    assert "time-tolerance: expected a finite, non-negative" in capsys.readouterr().err


def test_help_shows_defaults_and_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dry-run", "--help"])
    out = capsys.readouterr().out
    assert "(default: sd15)" in out and "example:\n  mobius-bench dry-run" in out


def test_duplicate_variants_collapse_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    from mobius_core.options import variants

    assert variants("serial,mobius,serial") == ["serial", "mobius"]
    assert "repeated values dropped" in capsys.readouterr().err


def test_fp16_on_cpu_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["step", "--device", "cpu", "--dtype", "fp16"]) == 2
    assert "fp16 runs on CUDA only" in capsys.readouterr().err


def test_out_of_memory_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_memory(*_: object, **__: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB\nmore")

    monkeypatch.setattr("mobius_core.run.quickstep.quick_steps", out_of_memory)
    assert main(["step", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "mobius-bench: error: out of memory: CUDA out of memory. Tried to allocate 80.00 GiB\n"
    )
