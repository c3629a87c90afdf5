"""Records -> one flat table: a row per case and variant, a column per figure (pandas).

The columns are `Record.row()` / `DryRecord.row()`: they come from the result fields'
metadata, so a new figure is a new column without any change here.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mobius_core.report.record import DryRecord, Record, VariantInfo

PROXY_PARTS = ("mem_parameters", "mem_gradients", "mem_optimizer", "mem_saved")
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
    """Peak memory per row: the allocator's where measured, else the named parts' sum."""
    if "peak_allocated" in rows and rows["peak_allocated"].notna().any():
        return rows["peak_allocated"], "allocator peak"
    parts = [c for c in PROXY_PARTS if c in rows]
    return rows[parts].sum(axis=1, min_count=1), "parameters+gradients+optimizer+saved (CPU proxy)"
