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
from mobius_core.report import converge_report, design_plot, design_space, plots
from mobius_core.report.converge_record import ConvergeRecord
from mobius_core.report.grid import Grid
from mobius_core.report.record import Record
from mobius_core.report.tables import frame, memory_figure

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
    """The design-space section, where a sweep is given or the run has rejoin cases: a k
    table per preset and `design_space.png` (with the temporal gain per k of the first
    converge record whose entries carry k), written into `out`."""
    points = design_space.measured(records)
    if not extras.sweeps and not any(r.case.rejoin is not None for r in records):
        return []
    panels = design_space.panels(extras.sweeps, points)
    learned = next(((c, g) for c in extras.converges if (g := design_space.gains(c))), None)
    reference = None
    if learned is not None:
        gain = learned[0].variants[learned[0].baseline_variant].temporal_gain
        reference = (gain.mean, gain.low, gain.high)
    figure = design_plot.plot(
        panels,
        learned[1] if learned else None,
        reference,
        learned[0].case.key if learned else "",
    )
    plots.write({DESIGN_PLOT: figure}, out)
    lines = [
        "## Which Mobius? The design space",
        "",
        "`mobius-double` adds return bridges (temporal -> spatial) at the last k up positions;"
        " k = 0 is `mobius`. Savings against serial: the dry run predicts memory by its"
        " simulated peak and time from step FLOPs; measured points pair mobius (k = 0) and"
        " mobius-double with the serial of their own case (a `-k` case runs them side by"
        f" side), time by the paired ratio of medians. [{DESIGN_PLOT}]({DESIGN_PLOT})",
        "",
    ]
    for panel in panels:
        lines += [_caption(panel, records), "", design_space.k_table(panel), ""]
    if learned is not None:
        record, found = learned
        lines += [
            f"What each k learns: the temporal gain from `converge` at `{record.case.key}` (k"
            f" counts {record.case.preset}'s up positions), 95% interval over"
            f" {len(record.settings.get('seeds', []))} seeds, with its verdict against serial's.",
            "",
            design_space.gain_table(record, found),
            "",
        ]
    return lines


def _caption(panel: design_space.Panel, records: list[Record]) -> str:
    """Which shapes a panel's points are at, and what its measured memory is."""
    parts = [f"dry run at `{panel.predicted[0].case}`"] if panel.predicted else []
    if panel.measured:
        keys = ", ".join(f"`{k}`" for k in dict.fromkeys(p.case for p in panel.measured))
        other = [s for s in panel.measured_shapes if s != panel.shape]
        note = (
            f" (not the dry run's shape: {', '.join(other)})" if panel.predicted and other else ""
        )
        _, memory = memory_figure(frame(records))
        parts.append(f"measured in {keys}{note}; measured memory is the {memory}")
    return f"**{panel.preset}**: " + "; ".join(parts) + "."


def quality_column(rows: pd.DataFrame, extras: Extras) -> list[str] | None:
    """The quality cell of each row, or None when no converge record was given."""
    if not extras.converges:
        return None
    return [quality(extras, r["case"], r["variant"]) for _, r in rows.iterrows()]
