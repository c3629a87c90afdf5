"""Output paths: checked before the work, one folder maker for every command, nothing lost."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mobius_core import outputs
from mobius_core.errors import BadInput
from mobius_core.outputs import (
    check_new_file,
    check_new_folder,
    fill_new_folder,
    write_atomic,
)


def test_two_folders_in_the_same_second_do_not_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outputs, "RUNS", tmp_path)
    monkeypatch.setattr(outputs.time, "strftime", lambda _: "20261127-120000")
    first = fill_new_folder(lambda f: (f / "a.txt").write_text("1"), label="cpu-report")
    second = fill_new_folder(lambda f: (f / "a.txt").write_text("2"), label="cpu-report")
    assert first.name == "20261127-120000-cpu-report"
    assert second.name == "20261127-120000-cpu-report-1"
    assert (first / "a.txt").read_text() == "1" and (second / "a.txt").read_text() == "2"


def test_a_failed_or_interrupted_fill_leaves_nothing(tmp_path: Path) -> None:
    def interrupted(folder: Path) -> None:
        (folder / "half.txt").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fill_new_folder(interrupted, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a hidden staging folder


def test_an_existing_folder_is_refused_before_the_work(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    work: list[str] = []
    with pytest.raises(BadInput, match="exists already"):
        fill_new_folder(lambda f: work.append("done"), tmp_path / "out")
    assert work == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: (p / "x.json").write_text("{}") and p / "x.json", "exists already"),
        (lambda p: (p / "d").mkdir() or p / "d", "is a folder; give a file name"),
        (lambda p: (p / "f").write_text("") or p / "f" / "x.json", "is a file, not a folder"),
    ],
)
def test_bad_file_paths_are_one_line(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(BadInput, match=message) as error:
        check_new_file(make(tmp_path))
    assert "\n" not in str(error.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(BadInput, match="cannot write"):
            check_new_folder(tmp_path / "out")
    finally:
        tmp_path.chmod(0o700)


def test_missing_parents_are_made(tmp_path: Path) -> None:
    path = check_new_file(tmp_path / "a" / "b" / "run.json")
    assert path.parent.is_dir() and not path.exists()


def test_a_file_that_appeared_meanwhile_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text("theirs")
    with pytest.raises(BadInput, match="exists already"):
        write_atomic(path, "ours")
    assert path.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary left
