"""Which plots a report draws, from what: the run-wide ones from every case, and the
one-case ones from the headline case (or each case in turn)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mobius_core.report import case_plots, plots
from mobius_core.report.plots import Drawn
from mobius_core.report.record import OK, Record

CASE_PLOTS = ("memory_breakdown.png", "flops_by_region.png", "time_distribution.png")


def run_figures(
    rows: pd.DataFrame, claims: pd.DataFrame, colours: dict[str, str], baseline: str | None
) -> dict[str, Drawn]:
    """The plots of the whole run, by file name."""
    return {
        "savings.png": plots.savings(claims, colours, baseline),
        "memory_sweeps.png": plots.memory_sweeps(rows, colours),
        "time_vs_batch.png": plots.time_vs_batch(rows, colours),
    }


def case_figures(
    rows: pd.DataFrame, records: Sequence[Record], case: str, colours: dict[str, str]
) -> dict[str, Drawn]:
    """The plots of the one case `case`, by file name."""
    ok = rows[(rows["case"] == case) & (rows["status"] == OK)]
    samples = {
        r.variant.name: r.time.samples_ms
        for r in records
        if r.case.key == case and r.status == OK and r.time and r.time.samples_ms
    }
    if ok.empty:
        return {name: f"no variant of {case} was measured" for name in CASE_PLOTS}
    drawn = (
        case_plots.memory_breakdown(ok, colours),
        case_plots.flops_by_region(ok, colours),
        case_plots.time_distribution(samples, colours, case),
    )
    return dict(zip(CASE_PLOTS, drawn, strict=True))
