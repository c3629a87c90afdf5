"""Report sections from inputs beside the benchmark runs: a rejoin sweep (the Mobius design
space, `dry-run --rejoin`) and a converge record (quality at matched cost, `converge`).

`mobius-bench report` sorts its inputs by kind (`split`); the summary then gains a
"quality" column per variant where a converge record of the same shape is given, and a
design-space section with its plot where a sweep is given. Imports no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mobius_core.errors import BadInput
from mobius_core.measure.results import RecordError
from mobius_core.report import converge_report, design_space, plots
from mobius_core.report.converge_record import ConvergeRecord
from mobius_core.report.grid import Grid
from mobius_core.report.record import Record

DESIGN_PLOT = "design_space.png"


@dataclass
class Extras:
    """What a report was given beside its runs and dry runs."""

    sweeps: list[design_space.Sweep] = field(default_factory=list)
    converges: list[ConvergeRecord] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)  # dry-run grids: the claims map


def _schema(path: Path) -> str:
    if path.is_dir() or not path.is_file():
        return ""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return ""  # the run reader names what is wrong with it
    return str(data.get("schema", "")) if isinstance(data, dict) else ""


def split(paths: list[Path]) -> tuple[list[Path], Extras]:
    """The runs and dry runs among `paths`, and the sweeps and converge records, read."""
    runs, extras = [], Extras()
    for path in paths:
        if converge_report.is_converge(path):
            extras.converges.append(converge_report.load(path))
        elif _schema(path).startswith("mobius-bench-rejoin/"):
            try:
                extras.sweeps.append(design_space.Sweep.from_dict(json.loads(path.read_text())))
            except RecordError as error:
                raise BadInput(f"{path}: {error}") from None
        elif _schema(path).startswith("mobius-bench-grid/"):
            try:
                extras.grids.append(Grid.from_dict(json.loads(path.read_text())))
            except RecordError as error:
                raise BadInput(f"{path}: {error}") from None
        else:
            runs.append(path)
    return runs, extras


def _shape(key: str) -> str:
    """A case key without its batch (`tiny-b2-f8-r64-fp32` -> `tiny-f8-r64-fp32`): quality is
    a property of the clips and the model, measured at its own batch."""
    preset, _batch, *rest = key.split("-")
    return "-".join([preset, *rest])


def quality(extras: Extras, case: str, variant: str) -> str:
    """The "quality" cell: `variant`'s temporal gain and verdict from a converge record of
    the same shape (any batch), or empty."""
    for record in extras.converges:
        if _shape(record.case.key) == _shape(case):
            return converge_report.quality(record, record.case.key, variant) or ""
    return ""


def quality_note(extras: Extras) -> list[str]:
    if not extras.converges:
        return []
    keys = ", ".join(f"`{r.case.key}`" for r in extras.converges)
    return [
        f"The quality column is the temporal gain from `converge` ({keys}; shape matched, any"
        " batch): how much the variant's validation loss fell below the frozen 2D model's,"
        " net of a control trained on incoherent clips, with its 95% interval over seeds and"
        " the verdict against serial's.",
        "",
    ]


def design_section(extras: Extras, records: list[Record], out: Path) -> list[str]:
    """The design-space section: its table and `design_space.png`, written into `out`."""
    if not extras.sweeps:
        return []
    points = [p for s in extras.sweeps for p in design_space.predicted(s)]
    case = extras.sweeps[0].runs[0].records[0].case.key
    points += [p for p in design_space.measured(records) if p.case == case]  # same shape only
    plots.write({DESIGN_PLOT: design_space.plot(points, case)}, out)
    return [
        "## Which Mobius? The design space",
        "",
        "`mobius-double` adds return bridges (temporal -> spatial) at the last k up positions;"
        " k = 0 is `mobius`. Savings against serial: the dry run predicts memory from states"
        " plus saved tensors and time from step FLOPs; measured points are runs of the same"
        f" shape. [{DESIGN_PLOT}]({DESIGN_PLOT})",
        "",
        design_space.claims_table(points),
        "",
    ]


def quality_column(rows: pd.DataFrame, extras: Extras) -> list[str] | None:
    """The quality cell of each row, or None when no converge record was given."""
    if not extras.converges:
        return None
    return [quality(extras, r["case"], r["variant"]) for _, r in rows.iterrows()]
