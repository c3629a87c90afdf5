"""`mobius-bench step --mode`: ddp without ranks, and --compile-mode without compile, are
one-line errors."""

from __future__ import annotations

import pytest

from mobius_core.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mode", "ddp"], "--mode ddp: needs ranks; add --nproc N"),
        (["--compile-mode", "max-autotune"], "--compile-mode: needs --mode compile"),
    ],
)
def test_step_refuses_what_one_process_cannot_run(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["step", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
