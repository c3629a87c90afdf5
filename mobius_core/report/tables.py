"""Records -> one flat table: a row per case and variant, a column per figure (pandas).

The columns are `Record.row()` / `DryRecord.row()`: they come from the result fields'
metadata, so a new figure is a new column without any change here.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mobius_core.report.record import DryRecord, Record, VariantInfo

PROXY_PARTS = ("mem_parameters", "mem_gradients", "mem_optimizer", "mem_saved")
ALLOCATOR_PEAK = "allocator peak"
PEAKS = {
    "peak_allocated": ALLOCATOR_PEAK,
    "peak_live": "peak of live tensors (CPU, counted op by op)",
}
PROXY = "parameters+gradients+optimizer+saved (CPU proxy)"
SETTINGS = {"mode": "eager", "world_size": 1}  # case settings shown only where one differs


def frame(records: Sequence[Record | DryRecord]) -> pd.DataFrame:
    """Every record as a row, in order; columns no record fills are left out, and so are the
    run settings every record has at their default (eager, one process): a rejoin, mode or
    world_size column appears only where some record sets it."""
    rows = pd.DataFrame([r.row() for r in records]).dropna(axis=1, how="all")
    for column, default in SETTINGS.items():
        if column in rows and (rows[column] == default).all():
            rows = rows.drop(columns=column)
    if "rejoin" in rows:
        depths = [None if pd.isna(k) else int(k) for k in rows["rejoin"]]
        rows["rejoin"] = pd.Series(depths, index=rows.index, dtype=object)  # 3, not 3.0
    return rows


def variants(records: Sequence[Record | DryRecord]) -> dict[str, VariantInfo]:
    """Each variant's spec as its records carry it (label, colour, baseline), first seen first."""
    out: dict[str, VariantInfo] = {}
    for record in records:
        out.setdefault(record.variant.name, record.variant)
    return out


def baseline_name(records: Sequence[Record | DryRecord]) -> str | None:
    """The variant every other is set against: the one whose spec says so."""
    return next((v.name for v in variants(records).values() if v.baseline), None)


def memory_figure(rows: pd.DataFrame) -> tuple[pd.Series, str]:
    """Peak memory per row, and what it is: the allocator's where measured (CUDA), else the
    live tensors' (an eager CPU run), else the named parts' sum (CPU ranks, compiled CPU
    runs, and CPU runs recorded before 2026-12-08)."""
    parts = [c for c in PROXY_PARTS if c in rows]
    sources = [(rows[c], label) for c, label in PEAKS.items() if c in rows]
    sources.append((rows[parts].sum(axis=1, min_count=1), PROXY))
    figure, used = pd.Series(float("nan"), index=rows.index), []
    for values, label in sources:
        fill = figure.isna() & values.notna()
        if fill.any():
            figure[fill], used = values[fill], [*used, label]
    return figure, ", else ".join(used) or PROXY
