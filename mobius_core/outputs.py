"""Writing results without losing any: paths checked before the work, atomic files, new
folders that appear whole, nothing ever overwritten. Imports no torch.

Every command that writes checks its output path first (`check_new_file`,
`check_new_folder`), so that bad paths fail before the work, in one line; and every
command that makes a folder makes it through `fill_new_folder`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mobius_core.errors import BadInput

RUNS = Path("reports/runs")  # where new folders go by default


def _check_parent(path: Path) -> None:
    """Make `path`'s missing parents, or say in one line why they cannot be."""
    parent = path.parent
    for ancestor in [parent, *parent.parents]:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise BadInput(f"{path}: {ancestor} is a file, not a folder")
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(f"{path}: cannot make folder {parent}: {error.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadInput(f"{path}: cannot write in {parent}: permission denied")


def check_new_file(path: Path) -> Path:
    """Refuse an existing path, a folder, an unwritable or impossible parent; make parents."""
    if path.is_dir():
        raise BadInput(f"{path}: is a folder; give a file name")
    if path.exists():
        raise BadInput(f"{path}: exists already; choose a new path")
    _check_parent(path)
    return path


def check_new_folder(path: Path) -> Path:
    """Refuse an existing path or an unwritable or impossible parent; make the parents."""
    if path.exists():
        kind = "folder" if path.is_dir() else "file"
        raise BadInput(f"{path}: a {kind} of that name exists already; choose a new path")
    _check_parent(path)
    return path


def write_bytes_atomic(path: Path, data: bytes, replace: bool = False) -> None:
    """Write `data` through a temporary file: never half a file, and never over an existing
    one unless `replace` (a refreshed baseline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the result is an ordinary file
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if `path` appeared meanwhile: nothing is lost
            except FileExistsError:
                raise BadInput(f"{path}: exists already; choose a new path") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_atomic(path: Path, text: str, replace: bool = False) -> None:
    write_bytes_atomic(path, text.encode(), replace)


def write_new_json(path: Path, data: Any) -> None:
    """Write JSON to a path that must not exist yet."""
    write_atomic(path, json.dumps(data, indent=1) + "\n")


def stamp_name(label: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"


def new_folder(parent: Path, label: str) -> Path:
    """A new, empty folder `parent/<date>-<time>-<label>[-n]`, made here and never reused."""
    _check_parent(parent / "x")
    name = stamp_name(label)
    for attempt in range(1000):
        folder = parent / (name + (f"-{attempt}" if attempt else ""))
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise BadInput(f"{parent}: could not make a new folder for {label}")


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Hold Ctrl-C off while cleaning up, so that a second one leaves nothing half-removed."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals cannot be handled here anyway
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def fill_new_folder(
    fill: Callable[[Path], Any], folder: Path | None = None, label: str = "run"
) -> Path:
    """Run `fill` on a hidden staging folder, then move it into place; returns the folder.

    `folder` names the result (it must not exist); without it, a new
    `reports/runs/<date>-<time>-<label>[-n]` is made. The folder appears whole or not at
    all: on any failure or Ctrl-C the staging folder is removed.
    """
    target = check_new_folder(folder) if folder is not None else None
    parent = target.parent if target is not None else RUNS
    _check_parent(parent / "x")
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=".staging-"))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
        fill(staging)
        if target is None:
            target = new_folder(parent, label)  # reserved empty; the rename replaces it
        elif target.exists():
            raise BadInput(f"{target}: appeared while this ran; the result was not kept")
        staging.rename(target)
    except BaseException:
        with _uninterrupted():
            shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
