"""Writing results without losing any: atomic files, new folders, no overwriting."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the result is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def refuse_existing(path: Path) -> None:
    """Results are never overwritten: an existing path is bad input."""
    if path.exists():
        raise ValueError(f"{path}: exists already; choose a new path")


def write_new_json(path: Path, data: Any) -> None:
    """Write JSON to a path that must not exist yet."""
    refuse_existing(path)
    write_atomic(path, json.dumps(data, indent=1) + "\n")


def new_folder(parent: Path, label: str) -> Path:
    """A new folder `parent/<date>-<time>-<label>`, made here and never reused."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(100):
        folder = parent / (f"{stamp}-{label}" + (f"-{attempt}" if attempt else ""))
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise ValueError(f"{parent}: could not make a new folder for {label}")


def fill_new_folder(folder: Path, fill: Callable[[Path], T]) -> T:
    """Run `fill` on a hidden folder beside `folder`, then rename it to `folder`.

    The folder appears whole or not at all, and an existing one is never touched.
    """
    refuse_existing(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    staging.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        result = fill(staging)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result
