"""Per case, the candidate's savings over the baseline variant and their verdicts.

Time: the bootstrap interval of the ratio of medians (paired interleaved rounds). Memory:
the allocator peak, with a tolerance from the memory passes' spread
(`MemoryResult.peak_allocated_samples`): the saving's range runs from the candidate's
highest pass over the baseline's lowest to its lowest over the baseline's highest, and the
verdict is INCONCLUSIVE when the claim lies within that range. Without repeated passes
(or on the CPU proxy, which has no sampling noise) the tolerance is zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mobius_core.report.claims import MEMORY_CLAIM, TIME_CLAIM, Saving
from mobius_core.report.markdown import missing
from mobius_core.report.record import OK, Record
from mobius_core.report.tables import memory_figure

CANDIDATE = "mobius"


def claims_frame(
    rows: pd.DataFrame, records: Sequence[Record], baseline: str | None
) -> pd.DataFrame:
    """A row per case with `baseline` and the candidate measured: savings and verdicts."""
    memory, label = memory_figure(rows)
    rows = rows.assign(memory=memory)
    passes = {r.key: _passes(r) for r in records} if label == "allocator peak" else {}
    out = []
    for case, group in rows[rows["status"] == OK].groupby("case", sort=False):
        by_variant = group.set_index("variant")
        if baseline is None or not {baseline, CANDIDATE} <= set(by_variant.index):
            continue
        base, new = by_variant.loc[baseline], by_variant.loc[CANDIDATE]
        mem = _memory_saving(
            (base["memory"], passes.get((case, baseline), [])),
            (new["memory"], passes.get((case, CANDIDATE), [])),
        )
        time = _time_saving(new)
        out.append(
            {
                "case": case,
                "memory_label": label,
                "memory_saving": mem.value,
                "memory_low": mem.low,
                "memory_high": mem.high,
                "memory_text": mem.text(MEMORY_CLAIM),
                "memory_verdict": mem.verdict(MEMORY_CLAIM),
                "time_saving": time.value,
                "time_low": time.low,
                "time_high": time.high,
                "time_text": time.text(TIME_CLAIM),
                "time_verdict": time.verdict(TIME_CLAIM),
                "flop_saving": 1 - new["flops"] / base["flops"],
            }
        )
    return pd.DataFrame(out)


def _passes(record: Record) -> list[int]:
    memory = record.memory
    return list(memory.peak_allocated_samples or []) if memory is not None else []


def _memory_saving(base: tuple[float, list[int]], new: tuple[float, list[int]]) -> Saving:
    """The saving, with the range the memory passes' extremes give where there are several;
    each side is (its peak, its passes)."""
    ratio = new[0] / base[0]
    if len(base[1]) < 2 and len(new[1]) < 2:
        return Saving.from_ratio(ratio)
    low_base, high_base = min(base[1], default=base[0]), max(base[1], default=base[0])
    low_new, high_new = min(new[1], default=new[0]), max(new[1], default=new[0])
    return Saving.from_ratio(ratio, low_new / high_base, high_new / low_base)


def _time_saving(new: pd.Series) -> Saving:
    """The saving from the ratio of medians and its bootstrap interval, if timed."""
    if missing(new.get("time_ratio")):
        return Saving(float("nan"))
    return Saving.from_ratio(new["time_ratio"], new["time_ratio_low"], new["time_ratio_high"])


def tolerance_text(claims: pd.DataFrame) -> str:
    """The sentence that states the memory verdict's tolerance."""
    if claims.empty:
        return ""
    if claims["memory_low"].isna().all():
        return (
            "The memory verdict's tolerance is zero: this run has no repeated memory pass"
            " (or memory is the CPU proxy, which has no sampling noise)."
        )
    width = ((claims["memory_high"] - claims["memory_low"]) / 2).max()
    return (
        "The memory verdict allows for the spread of the memory passes: its range runs from"
        " the candidate's highest pass over the baseline's lowest to its lowest over the"
        " baseline's highest, and it is INCONCLUSIVE when 24% lies within it (half-width at"
        f" most {width:.3%} here)."
    )
