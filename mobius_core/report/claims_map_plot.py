"""The claims map as a plot: a panel per resolution, frames across and batch up, each shape
coloured by which claims are predicted to hold there and labelled with both ratios;
measured cases marked by whether they confirm the prediction. Imports no torch."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from mobius_core.errors import BadInput
from mobius_core.report.claims import MEMORY_CLAIM, TIME_CLAIM
from mobius_core.report.claims_map import (
    CONFIRMS,
    MAP,
    REFUTES,
    MapPoint,
    MeasuredPoint,
    map_points,
    measured_points,
    section,
    sentence,
)
from mobius_core.report.grid import Grid
from mobius_core.report.plotstyle import (
    LABEL_SIZE,
    SUBTITLE_SIZE,
    legend_below,
    new_figure,
    save_figure,
    wrap,
)
from mobius_core.report.record import Record
from mobius_core.report.time_model import TimeModel, fit

# category -> (colour, legend text); the index is the cell's value
CATEGORIES = (
    ("0.88", "neither claim predicted"),
    ("tab:olive", f"{TIME_CLAIM:.0%} time only"),
    ("tab:purple", f"{MEMORY_CLAIM:.0%} memory only"),
    ("tab:green", "both claims"),
)
MARKERS = {  # agreement of a measured case -> (marker, colour, legend text)
    CONFIRMS: ("o", "black", "measured: confirms both"),
    REFUTES: ("X", "tab:red", "measured: refutes one or both"),
    "other": ("D", "0.4", "measured: inconclusive"),
}


def category(point: MapPoint) -> int:
    """0 neither, 1 time only, 2 memory only, 3 both."""
    return 2 * point.memory_holds + point.time_holds


def _agreement(m: MeasuredPoint) -> str:
    said = {m.memory_agrees, m.time_agrees}
    if REFUTES in said:
        return REFUTES
    return CONFIRMS if said == {CONFIRMS} else "other"


def plot(
    grid: Grid, points: list[MapPoint], measured: list[MeasuredPoint], model: TimeModel
) -> Figure:
    """A panel per resolution; each cell `memory ratio / time ratio` over its category."""
    columns = len(grid.resolutions)
    fig, axes = new_figure(1.2 + 2.4 * columns, 1.6 + 0.5 * len(grid.batches), columns=columns)
    at = {p.shape: p for p in points}
    colours = ListedColormap([c for c, _ in CATEGORIES])
    for ax, r in zip(axes, grid.resolutions, strict=True):
        cells = [[category(at[(b, f, r)]) for f in grid.frames] for b in grid.batches]
        ax.imshow(
            cells, cmap=colours, vmin=0, vmax=len(CATEGORIES) - 1, origin="lower", aspect="auto"
        )
        for i, b in enumerate(grid.batches):
            for j, f in enumerate(grid.frames):
                p = at[(b, f, r)]
                ax.text(
                    j,
                    i,
                    f"{p.memory_ratio:.2f}\n{p.time_ratio:.2f}",
                    ha="center",
                    va="center",
                    fontsize=LABEL_SIZE - 1,
                )
        for m in measured:
            if m.predicted is None or m.shape[2] != r:
                continue
            marker, colour, _ = MARKERS[_agreement(m)]
            i, j = grid.batches.index(m.shape[0]), grid.frames.index(m.shape[1])
            ax.plot(j + 0.36, i + 0.3, marker, color=colour, markersize=6)
        ax.set_xticks(range(len(grid.frames)), [str(f) for f in grid.frames])
        ax.set_yticks(range(len(grid.batches)), [str(b) for b in grid.batches])
        ax.tick_params(labelsize=LABEL_SIZE)
        ax.set_xlabel("frames", fontsize=LABEL_SIZE)
        ax.set_title(f"{r} px", fontsize=LABEL_SIZE + 1)
    axes[0].set_ylabel("batch", fontsize=LABEL_SIZE)
    handles: list[Patch | Line2D] = [Patch(color=c, label=text) for c, text in CATEGORIES]
    shown = {_agreement(m) for m in measured if m.predicted is not None}
    handles += [
        Line2D([], [], marker=mk, color=c, linestyle="", label=text)
        for key, (mk, c, text) in MARKERS.items()
        if key in shown
    ]
    legend_below(fig, handles, columns=4)
    heading = "Where the claims hold: mobius / serial, memory (top) and time (bottom) per cell"
    basis = (
        f"{grid.preset} {grid.dtype}; memory: the dry run's simulated peak (forward, backward,"
        f" AdamW's update; attention {grid.attention}); {model.describe()}"
    )
    fig.suptitle(wrap(f"{heading}\n{basis}", fig, SUBTITLE_SIZE), fontsize=SUBTITLE_SIZE)
    return fig


def write_map(
    grids: list[Grid], records: list[Record], rows: pd.DataFrame, claims: pd.DataFrame, out: Path
) -> tuple[str, list[str]]:
    """With a grid given: `claims_map.png` written into `out`, the first-screen sentence and
    the report's section; without one, nothing."""
    if not grids:
        return "", []
    if len(grids) > 1:
        raise BadInput(f"{len(grids)} dry-run grids given: the claims map takes one")
    grid = grids[0]
    model = fit(records, grid.preset, grid.dtype)
    points = map_points(grid, model)
    measured = measured_points(grid, points, rows, claims)
    save_figure(plot(grid, points, measured, model), out / MAP)
    return sentence(grid, points, measured, model), section(grid, points, measured, model)
