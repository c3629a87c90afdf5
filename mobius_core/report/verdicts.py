"""Per case, the candidate's savings over the reference serial and their verdicts.

Time: the bootstrap interval of the ratio of medians (paired interleaved rounds). Memory:
the allocator peak, with a tolerance from the memory passes' spread
(`MemoryResult.peak_allocated_samples`): the saving's range runs from the candidate's
highest pass over the baseline's lowest to its lowest over the baseline's highest, and the
verdict is INCONCLUSIVE when the claim lies within that range. Without repeated passes
(or on the CPU proxy, which has no sampling noise) the tolerance is zero.

Two serials can be measured: ours (the baseline variant) and diffusers' own
`UNetMotionModel` (`diffusers-serial`). The reference serial is the stronger of them, so
that no claim rests on a weak baseline: the time claim is judged against the faster one
(the lower median step time) and the memory claim against the leaner one (the lower peak
memory). Usually one serial is both; when one is faster and the other leaner, each claim
takes its own, and the summary says so. Ties go to the baseline variant; a serial without
a figure cannot be the reference for it. With one serial measured, it is the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mobius_core.measure.stats import ratio_of_medians
from mobius_core.report.claims import MEMORY_CLAIM, TIME_CLAIM, Saving
from mobius_core.report.markdown import missing, table
from mobius_core.report.record import OK, Record
from mobius_core.report.tables import ALLOCATOR_PEAK, memory_figure

CANDIDATE = "mobius"
PEER = "diffusers-serial"  # diffusers' own serial (interop.peer), the other reference


def serials(baseline: str | None) -> list[str]:
    """The serial variants a candidate is set against: the baseline first, then the peer."""
    return [baseline, PEER] if baseline is not None else [PEER]


def claims_frame(
    rows: pd.DataFrame, records: Sequence[Record], baseline: str | None
) -> pd.DataFrame:
    """A row per case with a serial and the candidate measured: savings and verdicts
    against the reference serial(s), named in `time_reference`, `memory_reference` and, when
    two serials were measured, `reference` (e.g. "diffusers-serial (faster and leaner)")."""
    memory, label = memory_figure(rows)
    rows, figures = rows.assign(memory=memory), _Figures(records, label)
    out = []
    for case, group in rows[rows["status"] == OK].groupby("case", sort=False):
        by_variant = group.set_index("variant")
        measured = [s for s in serials(baseline) if s in by_variant.index]
        if CANDIDATE not in by_variant.index or not measured:
            continue
        versus = {s: figures.versus(case, s, by_variant, baseline) for s in measured}
        time_ref = _lowest(by_variant, measured, "time_median_ms")
        memory_ref = _lowest(by_variant, measured, "memory")
        mem, time = versus[memory_ref]["memory"], versus[time_ref]["time"]
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
                "flop_saving": versus[time_ref]["flops"],
                "time_reference": time_ref,
                "memory_reference": memory_ref,
                "reference": _reference(time_ref, memory_ref) if len(measured) > 1 else "",
            }
        )
    return pd.DataFrame(out)


def _lowest(by_variant: pd.DataFrame, measured: list[str], figure: str) -> str:
    """The serial with the lowest `figure` (the first on a tie or where none has it)."""
    known = [s for s in measured if not missing(by_variant.loc[s].get(figure))]
    return min(known, key=lambda s: by_variant.loc[s][figure]) if known else measured[0]


def _reference(time_ref: str, memory_ref: str) -> str:
    if time_ref == memory_ref:
        return f"{time_ref} (faster and leaner)"
    return f"{time_ref} (faster) for time, {memory_ref} (leaner) for memory"


class _Figures:
    """What the rows lack for a comparison: each record's memory passes and time samples."""

    def __init__(self, records: Sequence[Record], label: str) -> None:
        self.records = {r.key: r for r in records}
        self.passes = {r.key: _passes(r) for r in records} if label == ALLOCATOR_PEAK else {}

    def versus(
        self, case: str, serial: str, by_variant: pd.DataFrame, baseline: str | None
    ) -> dict[str, Saving | float]:
        """The candidate's memory and time savings against one serial, and the share of
        that serial's FLOPs it skips."""
        base, new = by_variant.loc[serial], by_variant.loc[CANDIDATE]
        memory = _memory_saving(
            (base["memory"], self.passes.get((case, serial), [])),
            (new["memory"], self.passes.get((case, CANDIDATE), [])),
        )
        if serial == baseline:
            time = _time_saving(new)
        else:
            time = _paired_time_saving(self.records, case, serial)
        return {"memory": memory, "time": time, "flops": 1 - new["flops"] / base["flops"]}


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
    """The saving from the ratio of medians to the baseline variant (the record's, paired
    round by round) and its bootstrap interval, if timed."""
    if missing(new.get("time_ratio")):
        return Saving(float("nan"))
    return Saving.from_ratio(new["time_ratio"], new["time_ratio_low"], new["time_ratio_high"])


def _paired_time_saving(records: dict[tuple[str, str], Record], case: str, serial: str) -> Saving:
    """The saving against another serial, from both records' time samples: paired by
    round where they are of one length (interleaved rounds), else resampled apart."""
    samples = [records[(case, v)].time for v in (CANDIDATE, serial)]
    mine, theirs = [(t.samples_ms or []) if t is not None else [] for t in samples]
    if not mine or not theirs:
        return Saving(float("nan"))
    ratio = ratio_of_medians(mine, theirs, paired=len(mine) == len(theirs))
    return Saving.from_ratio(ratio.ratio, ratio.low, ratio.high)


def tolerance_text(claims: pd.DataFrame) -> str:
    """The sentence that states the memory verdict's tolerance."""
    if claims.empty:
        return ""
    if claims["memory_low"].isna().all():
        return (
            "The memory verdict's tolerance is zero: this run has no repeated memory pass"
            " (or memory is counted on the CPU, which has no sampling noise)."
        )
    width = ((claims["memory_high"] - claims["memory_low"]) / 2).max()
    return (
        "The memory verdict allows for the spread of the memory passes: its range runs from"
        " the candidate's highest pass over the baseline's lowest to its lowest over the"
        " baseline's highest, and it is INCONCLUSIVE when 24% lies within it (half-width at"
        f" most {width:.3%} here)."
    )


def versus_serials(
    claims: pd.DataFrame, rows: pd.DataFrame, records: Sequence[Record], baseline: str | None
) -> str:
    """Where two serials were measured: the candidate against each, and which is the
    reference for which claim (a Markdown section; empty otherwise)."""
    both = claims[claims["reference"] != ""] if not claims.empty else claims
    if both.empty:
        return ""
    memory, label = memory_figure(rows)
    rows, figures = rows.assign(memory=memory), _Figures(records, label)
    lines = []
    for _, c in both.iterrows():
        by_variant = rows[(rows["case"] == c["case"]) & (rows["status"] == OK)]
        by_variant = by_variant.set_index("variant")
        for serial in [s for s in serials(baseline) if s in by_variant.index]:
            versus = figures.versus(c["case"], serial, by_variant, baseline)
            roles = [k for k in ("time", "memory") if c[f"{k}_reference"] == serial]
            lines.append(
                {
                    "case": c["case"],
                    "against": serial,
                    "memory saving": versus["memory"].text(MEMORY_CLAIM),
                    "time saving [95% CI]": versus["time"].text(TIME_CLAIM),
                    "FLOPs skipped": f"{versus['flops']:.1%}",
                    "reference for": " and ".join(roles) or "-",
                }
            )
    return f"\n### {CANDIDATE} against each serial\n\n" + table(lines) + "\n"
