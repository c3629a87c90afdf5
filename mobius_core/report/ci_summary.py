"""`compare --summary FILE`: a short Markdown table of what regressed and what improved,
appended to FILE, where CI shows it (GitHub's `$GITHUB_STEP_SUMMARY`)."""

from __future__ import annotations

import os
from pathlib import Path

from mobius_core.errors import BadInput
from mobius_core.report.compare import IMPROVED, REGRESSION, Comparison
from mobius_core.report.markdown import table


def check_summary_path(path: Path) -> Path:
    """A file that can be appended to (it may exist); one line if it cannot, before any work."""
    if path.is_dir():
        raise BadInput(f"--summary {path}: is a folder; give a file to append to")
    if not path.parent.is_dir():
        raise BadInput(f"--summary {path}: no folder {path.parent}")
    writable = os.access(path, os.W_OK) if path.exists() else os.access(path.parent, os.W_OK)
    if not writable:
        raise BadInput(f"--summary {path}: cannot write there: permission denied")
    return path


def summary(result: Comparison, base: Path, new: Path) -> str:
    """A heading, then the rows that regressed or improved, or one line saying none did."""
    changed = [r for r in result.rows if r["result"].startswith((REGRESSION, *IMPROVED))]
    heading = f"### mobius-bench compare: {new} against {base}\n\n"
    if not changed:
        return heading + "No figure regressed or improved beyond its tolerance.\n\n"
    counts = f"{result.regressions} regressed, {len(changed) - result.regressions} improved.\n\n"
    return heading + counts + table(changed) + "\n\n"


def append_summary(path: Path, text: str) -> None:
    """Add `text` at the end of `path`, in one write."""
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise BadInput(f"--summary {path}: cannot write: {error.strerror}") from None
