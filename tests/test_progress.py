"""Progress bars: drawn on a terminal, naming the step under way; nothing elsewhere."""

from __future__ import annotations

import io

import pytest

from mobius_core.progress import progress, tracked


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_names_the_step_under_way_and_counts_the_steps() -> None:
    stream = Terminal()
    assert list(tracked(["serial", "mobius"], "bench", name=str.upper, stream=stream)) == [
        "serial",
        "mobius",
    ]
    drawn = stream.getvalue()
    assert "bench:" in drawn and "0/2" in drawn and "SERIAL" in drawn
    assert "1/2 [00:00<00:00" in drawn and "MOBIUS" in drawn  # done, elapsed<left
    assert drawn.endswith("\r")  # and wiped at the end


def test_nothing_is_drawn_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()  # a pipe or a log file
    with progress(3, "profile", stream) as bar:
        bar.doing("serial")
        bar.done()
        bar.say("# case done")
    assert stream.getvalue() == ""
    assert capsys.readouterr().out == "# case done\n"


def test_a_line_said_during_the_work_goes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    stream = Terminal()
    with progress(1, "converge", stream) as bar:
        bar.say("# seed 0 done")
    assert capsys.readouterr().out == "# seed 0 done\n"
    assert "# seed 0 done" not in stream.getvalue()
