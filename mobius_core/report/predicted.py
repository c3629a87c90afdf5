"""The report's "Predicted (dry run) beside measured" section: FLOPs, saved bytes and the
peak as the dry run predicts them and as the run measured them. Imports no torch."""

from __future__ import annotations

import pandas as pd

from mobius_core.report.markdown import flops, missing, number, size, table
from mobius_core.report.record import OK
from mobius_core.report.tables import PEAKS, memory_figure


def predicted_section(rows: pd.DataFrame, predicted: pd.DataFrame) -> str:
    """The dry run's figures beside the measured ones, case by case; the gap of a measured
    peak (the allocator's, or the live tensors' on CPU) to the prediction, and on CUDA the
    gap of the allocator's saved bytes."""
    if predicted.empty:
        return ""
    pred = predicted.set_index(["case", "variant"])
    lines = []
    memory, _ = memory_figure(rows)
    peaks = [c for c in PEAKS if c in rows]
    measured = rows[peaks].notna().any(axis=1)  # a peak, not the CPU proxy (a parts' sum)
    gpu = "saved_allocator" in rows  # the allocator's cross-check of saved bytes
    for (_, r), mem, is_peak in zip(rows.iterrows(), memory, measured, strict=True):
        if (r["case"], r["variant"]) not in pred.index or r["status"] != OK:
            continue
        p = pred.loc[(r["case"], r["variant"])]
        # under FSDP the simulated peak is an unsharded process's, not comparable to a rank's
        peak = None if (p.get("world_size") or 1) > 1 else p.get("peak_predicted")
        lines.append(
            {
                "case": r["case"],
                "variant": r["variant"],
                "FLOPs predicted": flops(p.get("flops")),
                "FLOPs measured": flops(r.get("flops")),
                "saved predicted": size(p.get("saved_bytes")),
                "saved measured": size(r.get("saved_bytes")),
                "peak predicted": size(peak),
                "peak measured": size(mem),
                **({"peak gap": _gap(peak, mem if is_peak else None)} if peaks else {}),
                **(_allocator_gap(p.get("saved_bytes"), r.get("saved_allocator")) if gpu else {}),
            }
        )
    if not lines:
        return ""
    return "\n## Predicted (dry run) beside measured\n\n" + table(lines) + "\n"


def _allocator_gap(predicted: float | None, allocator: float | None) -> dict[str, str]:
    """On a GPU run: the allocator's saved bytes (after the forward minus before it) and their
    gap to the dry run's prediction."""
    return {"saved measured (allocator)": size(allocator), "gap": _gap(predicted, allocator)}


def _gap(predicted: float | None, measured: float | None) -> str:
    """How far the measured figure lies above (+) or below (-) the prediction."""
    gap = measured / predicted - 1 if predicted and not missing(measured) else None
    return number(gap, "{:+.1%}")
