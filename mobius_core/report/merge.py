"""Runs that share a case: one record per case and variant, its time samples pooled.

The same run given twice, overlapping runs, or `--batch 1,1` give a case and variant more
than once. Their records merge into the first `ok` one: time samples (and memory passes)
pooled, every other figure from that first record; the time ratio to the baseline variant
is worked out again from the pooled samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

from mobius_core.measure.results import RatioResult, TimeResult
from mobius_core.measure.stats import ratio_of_medians
from mobius_core.report.record import OK, DryRecord, Record

R = TypeVar("R", Record, DryRecord)


def merge(records: Sequence[R]) -> tuple[list[R], str | None]:
    """One record per key, in first-seen order, and a note naming what was merged (or None)."""
    groups: dict[tuple[str, str], list[R]] = {}
    for record in records:
        groups.setdefault(record.key, []).append(record)
    repeated = {key: group for key, group in groups.items() if len(group) > 1}
    if not repeated:
        return list(records), None
    merged = {key: _merge(group) for key, group in groups.items()}
    for key in repeated:
        merged[key] = _ratio_again(merged[key], merged, groups)
    names = ", ".join(f"{case} {variant} ({len(g)}x)" for (case, variant), g in repeated.items())
    note = (
        f"{len(repeated)} case/variant records appeared more than once and were merged: {names};"
        " their time samples are pooled, every other figure is the first ok record's."
    )
    return list(merged.values()), note


def _merge(group: list[R]) -> R:
    ok = [r for r in group if r.status == OK]
    if not isinstance(group[0], Record) or len(ok) < 2:
        return ok[0] if ok else group[0]
    first = ok[0]
    timed = [r.time for r in ok if r.time is not None and r.time.samples_ms]
    time = first.time
    if timed:
        samples = [s for t in timed for s in t.samples_ms or []]
        time = TimeResult.from_samples(samples, f"{timed[0].method}; pooled over {len(timed)} runs")
    memory = first.memory
    passes = [p for r in ok if r.memory for p in r.memory.peak_allocated_samples or []]
    if memory is not None and passes:
        memory = replace(memory, peak_allocated_samples=passes)
    return replace(first, time=time, memory=memory)


def _ratio_again(
    record: R, merged: dict[tuple[str, str], R], groups: dict[tuple[str, str], list[R]]
) -> R:
    """The time ratio to the case's baseline variant, from the pooled samples."""
    if not isinstance(record, Record) or record.variant.baseline or record.time is None:
        return record
    same_case = [r for r in merged.values() if r.case.key == record.case.key]
    base = next((r for r in same_case if r.variant.baseline), None)
    if base is None or base.time is None or base.status != OK or record.status != OK:
        return record
    mine, theirs = record.time.samples_ms or [], base.time.samples_ms or []
    # rounds stay paired when both sides pooled the same runs' interleaved rounds
    paired = len(mine) == len(theirs) and len(groups[record.key]) == len(groups[base.key])
    ci = ratio_of_medians(mine, theirs, paired=paired)
    method = f"{ci.method}; pooled samples, {'paired' if paired else 'unpaired'}"
    return replace(record, ratio_to_baseline=RatioResult(ci.ratio, ci.low, ci.high, method))
