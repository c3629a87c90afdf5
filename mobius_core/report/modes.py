"""Execution modes side by side: the same shape run eager, compiled, under DDP or FSDP.

A case's key already names its mode (`-compile`, `-ddp`, `-w2`), so every claim verdict is
one mode's. When a report holds more than one mode, its claims table gains a `mode` column
and this section sets the modes of each base shape (preset, batch, frames, resolution,
dtype, rejoin depth) side by side: mobius over the baseline in step time and in memory,
and, where compiled, the compile time and recompilations. Imports no torch.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mobius_core.report.markdown import missing, number, table
from mobius_core.report.record import OK, case_key
from mobius_core.report.tables import memory_figure
from mobius_core.report.verdicts import CANDIDATE

EAGER = "eager"


def modes(rows: pd.DataFrame) -> list[str]:
    """The modes the rows hold, first seen first (eager for rows that name none)."""
    if rows.empty:
        return []
    if "mode" not in rows:
        return [EAGER]
    return list(dict.fromkeys(rows["mode"].fillna(EAGER)))


def several(rows: pd.DataFrame) -> bool:
    """Whether the rows hold more than one mode: then tables show a `mode` column."""
    return len(modes(rows)) > 1


def base_shape(row: pd.Series) -> str:
    """The case's key without its mode and world size: what the modes share."""
    rejoin = row.get("rejoin")
    return case_key(
        row["preset"],
        int(row["batch"]),
        int(row["frames"]),
        int(row["resolution"]),
        row["dtype"],
        None if missing(rejoin) else int(rejoin),
    )


def side_by_side(rows: pd.DataFrame, baseline: str | None) -> list[str]:
    """The "Modes side by side" section's lines, or none when the rows hold one mode."""
    if not several(rows) or baseline is None:
        return []
    memory, label = memory_figure(rows)
    ok = rows.assign(memory=memory, shape=[base_shape(r) for _, r in rows.iterrows()])
    ok = ok[ok["status"] == OK]
    lines = []
    for _, group in ok.groupby("case", sort=False):
        by_variant = group.set_index("variant")
        if not {baseline, CANDIDATE} <= set(by_variant.index):
            continue
        base, new = by_variant.loc[baseline], by_variant.loc[CANDIDATE]
        lines.append(_line(new["shape"], base, new, baseline))
    if not lines:
        return []
    lines.sort(key=lambda line: line["shape"])  # stable: modes keep their run order
    return [
        "## Modes side by side",
        "",
        f"{CANDIDATE} over {baseline} in each mode that ran the same shape: step time (the"
        " ratio of medians with its 95% bootstrap interval: over paired interleaved rounds in"
        " eager and compile, unpaired under ddp and fsdp, whose ranks time one variant after"
        f" another) and memory (the {label}). Compile time is the seconds torch.compile spent"
        " in the warm-up, kept out of the timed steps: warm in the timing process, which"
        " compiles after the memory process compiled the same step, and cold in that memory"
        " process, the variant's first compile at the shape in the run (blank in runs that"
        " did not keep it); recompiles are graphs compiled after the first warm-up step (and,"
        " after the slash, while timed).",
        "",
        table(lines),
        "",
    ]


def _line(shape: str, base: pd.Series, new: pd.Series, baseline: str) -> dict[str, Any]:
    world = new.get("world_size")
    return {
        "shape": shape,
        "mode": new.get("mode", EAGER),
        "world size": 1 if missing(world) else int(world),  # records before it ran one process
        f"time {CANDIDATE}/{baseline} [95% CI]": _ratio(new),
        f"memory {CANDIDATE}/{baseline}": number(_over(new["memory"], base["memory"]), "{:.3f}"),
        f"compile s ({baseline}, {CANDIDATE})": _pair(base, new, "compile_s", "{:.1f}"),
        f"cold compile s ({baseline}, {CANDIDATE})": _pair(base, new, "compile_cold_s", "{:.1f}"),
        f"recompiles ({baseline}, {CANDIDATE})": _pair(
            base, new, "recompiles", "{:.0f}", "recompiles_timed"
        ),
    }


def _over(value: Any, base: Any) -> float | None:
    return None if missing(value) or missing(base) or not base else value / base


def _ratio(new: pd.Series) -> str:
    ratio = new.get("time_ratio")
    if missing(ratio):
        return ""
    low, high = new.get("time_ratio_low"), new.get("time_ratio_high")
    interval = "" if missing(low) or missing(high) else f" [{low:.3f}, {high:.3f}]"
    return f"{ratio:.3f}{interval}"


def _pair(base: pd.Series, new: pd.Series, column: str, fmt: str, timed: str = "") -> str:
    """`base, new` of one column (with `/timed` after each where given); blank if neither."""

    def one(row: pd.Series) -> str:
        text = number(row.get(column), fmt)
        return f"{text}/{number(row.get(timed), fmt)}" if text and timed else text

    first, second = one(base), one(new)
    return f"{first}, {second}" if first or second else ""


def with_mode(lines: list[dict[str, Any]], rows: pd.DataFrame) -> list[dict[str, Any]]:
    """`lines` (one per row of `rows`) with a `mode` column after the case, when the rows
    hold more than one mode; else unchanged."""
    if not several(rows):
        return lines
    out = []
    for line, (_, row) in zip(lines, rows.iterrows(), strict=True):
        mode = row.get("mode", EAGER)
        items = list(line.items())
        out.append(dict([items[0], ("mode", EAGER if missing(mode) else mode), *items[1:]]))
    return out
