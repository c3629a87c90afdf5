"""Where the paper's claims hold: over a dry-run grid of batch, frames and resolution, the
shapes at which mobius is predicted to save 24% of serial's memory and 12% of its time, and
the measured cases that confirm or refute the prediction. Imports no torch.

Memory is predicted by the dry run (its peak: the most bytes alive at once over the step,
simulated on the meta device, attention as the fused kernels run it); time by
`time_model` (the longer of a launch time per variant and the step's FLOPs at a rate, fitted
on the measured cases, or the FLOP ratio where too few were measured). A measured case
confirms a prediction when its verdict (PASS or FAIL, from the claims table) agrees with it,
refutes it when it does not, and settles nothing when INCONCLUSIVE.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mobius_core.report.claims import FAIL, MEMORY_CLAIM, PASS, TIME_CLAIM, verdict_value
from mobius_core.report.grid import Grid, Shape, prediction
from mobius_core.report.markdown import table
from mobius_core.report.time_model import TimeModel

MAP = "claims_map.png"
CONFIRMS, REFUTES, UNSETTLED = "confirms", "refutes", "inconclusive"


@dataclass(frozen=True)
class MapPoint:
    """The predicted ratios (mobius / serial) at one shape of the grid."""

    shape: Shape
    memory_ratio: float
    flop_ratio: float
    time_ratio: float

    @property
    def memory_holds(self) -> bool:
        return verdict_value(1 - self.memory_ratio, MEMORY_CLAIM) == PASS

    @property
    def time_holds(self) -> bool:
        return verdict_value(1 - self.time_ratio, TIME_CLAIM) == PASS


@dataclass(frozen=True)
class MeasuredPoint:
    """A measured case of the grid's preset and dtype, its verdicts set against the map."""

    case: str
    shape: Shape
    memory_ratio: float
    memory_verdict: str
    time_ratio: float
    time_verdict: str
    predicted: MapPoint | None  # None: the shape is not on the grid

    @property
    def memory_agrees(self) -> str:
        return _agreement(self.memory_verdict, self.predicted and self.predicted.memory_holds)

    @property
    def time_agrees(self) -> str:
        return _agreement(self.time_verdict, self.predicted and self.predicted.time_holds)


def _agreement(verdict: str, holds: bool | None) -> str:
    if holds is None:
        return "off the grid"
    if verdict not in (PASS, FAIL):
        return UNSETTLED
    return CONFIRMS if (verdict == PASS) == holds else REFUTES


def map_points(grid: Grid, model: TimeModel) -> list[MapPoint]:
    """Every shape of the grid with its predicted ratios, in the grid's order."""
    out = []
    for run in grid.runs:
        p = prediction(run)
        time = model.ratio(p.serial_flops, p.mobius_flops)
        out.append(MapPoint(p.shape, p.memory_ratio, p.flop_ratio, time))
    return out


def measured_points(
    grid: Grid, points: list[MapPoint], rows: pd.DataFrame, claims: pd.DataFrame
) -> list[MeasuredPoint]:
    """The judged cases (a row of `claims`) of the grid's preset and dtype, plain runs only
    (eager, one process, the preset's rejoin depth)."""
    if claims.empty:
        return []
    at = {p.shape: p for p in points}
    out = []
    for c in claims.itertuples():
        r = rows[rows["case"] == c.case].iloc[0]
        plain = r.get("mode", "eager") == "eager" and r.get("world_size", 1) == 1
        if (
            not plain
            or not pd.isna(r.get("rejoin"))
            or (r["preset"], r["dtype"])
            != (
                grid.preset,
                grid.dtype,
            )
        ):
            continue
        shape = (int(r["batch"]), int(r["frames"]), int(r["resolution"]))
        out.append(
            MeasuredPoint(
                c.case,
                shape,
                1 - c.memory_saving,
                c.memory_verdict,
                1 - c.time_saving,
                c.time_verdict,
                at.get(shape),
            )
        )
    return out


def shape_text(shape: Shape) -> str:
    return f"b{shape[0]} f{shape[1]} r{shape[2]}"


def sentence(
    grid: Grid, points: list[MapPoint], measured: list[MeasuredPoint], model: TimeModel
) -> str:
    """Where each claim is predicted to hold, and what the measured cases say of it: the
    report's first screen puts it after a link to the map."""
    memory = [p for p in points if p.memory_holds]
    time = [p for p in points if p.time_holds]
    both = [p for p in memory if p.time_holds]
    low = min(points, key=lambda p: p.memory_ratio)
    high = max(points, key=lambda p: p.memory_ratio)
    basis = (
        "by the FLOP ratio, no time model yet"
        if model.rate_tflops is None
        else f"by a time model fitted on {len(model.cases)} measured cases"
    )
    text = (
        f"over {len(points)} shapes of {grid.preset} {grid.dtype} (batch {_axis(grid.batches)};"
        f" {_axis(grid.frames)} frames; {_axis(grid.resolutions)} px) the dry run predicts the"
        f" {MEMORY_CLAIM:.0%} memory saving at {len(memory)} (mobius/serial from"
        f" {high.memory_ratio:.2f} at {shape_text(high.shape)} to {low.memory_ratio:.2f} at"
        f" {shape_text(low.shape)}) and the {TIME_CLAIM:.0%} time saving at {len(time)}"
        f" ({basis}); both at {len(both)}."
    )
    return f"{text} {_measured_text(measured)}"


def _axis(values: list[int]) -> str:
    return ", ".join(str(v) for v in values)


def _measured_text(measured: list[MeasuredPoint]) -> str:
    on = [m for m in measured if m.predicted is not None]
    if not on:
        return "No measured case lies on the grid yet."

    def count(figure: str) -> str:
        said = [getattr(m, f"{figure}_agrees") for m in on]
        return ", ".join(f"{said.count(w)} {w}" for w in (CONFIRMS, REFUTES, UNSETTLED))

    return (
        f"{len(on)} measured case(s) on the grid: memory {count('memory')}; time {count('time')}."
    )


def section(
    grid: Grid, points: list[MapPoint], measured: list[MeasuredPoint], model: TimeModel
) -> list[str]:
    """The report's section: how the map is predicted, the grid's ratios, the measured cases."""
    lines = [
        "## Where the claims hold: the claims map",
        "",
        f"[{MAP}]({MAP}). Mobius over serial at every shape of the grid ({grid.preset},"
        f" {grid.dtype}; the dry run on the meta device, attention {grid.attention}). Memory:"
        " the dry run's peak, the most bytes alive at once over forward, backward and AdamW's"
        f" update. {model.describe()}. M marks a memory"
        f" ratio at or below {1 - MEMORY_CLAIM:.2f} (the {MEMORY_CLAIM:.0%} claim holds), T a"
        f" time ratio at or below {1 - TIME_CLAIM:.2f}.",
        "",
        _grid_table(grid, points),
        "",
    ]
    if measured:
        lines += [
            "Measured cases against the map (time predicted by a model fitted on them is"
            " not an independent test):",
            "",
            table([_measured_row(m) for m in measured]),
            "",
        ]
    return lines


def _grid_table(grid: Grid, points: list[MapPoint]) -> str:
    at = {p.shape: p for p in points}
    rows = []
    for b in grid.batches:
        for f in grid.frames:
            row: dict[str, str] = {"batch": str(b), "frames": str(f)}
            for r in grid.resolutions:
                p = at[(b, f, r)]
                m, t = " M" if p.memory_holds else "", " T" if p.time_holds else ""
                row[f"{r} px: memory / time"] = f"{p.memory_ratio:.3f}{m} / {p.time_ratio:.3f}{t}"
            rows.append(row)
    return table(rows)


def _measured_row(m: MeasuredPoint) -> dict[str, str]:
    p = m.predicted
    return {
        "case": m.case,
        "memory predicted": "" if p is None else f"{p.memory_ratio:.3f}",
        "memory measured": f"{m.memory_ratio:.3f} ({m.memory_verdict})",
        "memory": m.memory_agrees,
        "time predicted": "" if p is None else f"{p.time_ratio:.3f}",
        "time measured": f"{m.time_ratio:.3f} ({m.time_verdict})",
        "time": m.time_agrees,
    }
