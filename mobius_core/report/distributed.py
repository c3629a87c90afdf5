"""The "Distributed runs" section: each ddp or fsdp record's world size, step time (max over
ranks), the same variant at world size 1, scaling efficiency, bytes its collectives carry
per step and the largest rank's peak. CPU runs (gloo, ranks sharing the host's cores) are
labelled a correctness check, not a performance claim. Imports no torch."""

from __future__ import annotations

import pandas as pd

from mobius_core.report.markdown import missing, number, size, table
from mobius_core.report.record import OK

DISTRIBUTED = ("ddp", "fsdp")
CPU_LABEL = (
    "**These CPU figures are a correctness check, not a performance claim**: the ranks ran"
    " on gloo and shared the host's cores, so their times and scaling say that the"
    " distributed step runs and what it exchanges, not how it scales on GPUs."
)


def distributed_section(rows: pd.DataFrame) -> list[str]:
    """The section's lines; none when the rows hold no ddp or fsdp record."""
    if rows.empty or "mode" not in rows:
        return []
    ranked = rows[rows["mode"].isin(DISTRIBUTED) & (rows["status"] == OK)]
    if ranked.empty:
        return []
    lines = [
        {
            "case": r["case"],
            "variant": r["variant"],
            "mode": r["mode"],
            "ranks": int(r["world_size"]),
            "step ms (max over ranks)": number(r.get("time_median_ms"), "{:.1f}"),
            "world size 1 ms": number(r.get("time_world1_median_ms"), "{:.1f}"),
            "scaling efficiency": number(r.get("scaling_efficiency"), "{:.2f}"),
            "collective bytes/step": size(_value(r.get("comm_bytes"))),
            "largest rank's peak": size(_value(r.get("rank_peak_max"))),
        }
        for _, r in ranked.iterrows()
    ]
    cpu = (ranked["device"] == "cpu").any()
    return [
        "## Distributed runs",
        "",
        *([CPU_LABEL, ""] if cpu else []),
        "Step time is each round's largest time over the ranks (synchronised by a barrier);"
        " scaling efficiency is the world-size-1 median over it, with the per-rank batch"
        " fixed (1.0: perfect). Collective bytes are the full buffers of one step's"
        " all-reduces (DDP) or all-gathers and reduce-scatters (FSDP). Peak memory is per"
        " rank, each variant measured alone on its device.",
        "",
        table(lines),
        "",
    ]


def _value(value: object) -> float | None:
    return None if missing(value) else float(value)  # type: ignore[arg-type]
