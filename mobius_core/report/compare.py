"""`mobius-bench compare`: a new run against a base, and whether anything regressed.

Which figures are compared, and how, comes from each result field's `compare` metadata:
`exact` figures (FLOPs, saved-activation bytes, parameter counts) regress on any change or
disappearance; `counted` ones (the CPU's peak of live tensors) on a disappearance or beyond
the memory tolerance; `memory` beyond its tolerance; `time` only when the slowdown's whole
95% interval (the noise of both runs) lies beyond its tolerance. Time and memory (the
allocator's) are compared only between runs of one machine. A case and variant that was
`ok` in the base and is missing or not `ok` in the new run regresses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from mobius_core.errors import BadInput
from mobius_core.measure.results import COUNTED, DETERMINISTIC, EXACT, MEMORY, TIME, Result
from mobius_core.measure.stats import ratio_of_medians
from mobius_core.report.markdown import formatted, table
from mobius_core.report.merge import merge
from mobius_core.report.record import OK, DryRecord, Record
from mobius_core.report.runs import Run

Key = tuple[str, str]
REGRESSION = "REGRESSION"
IMPROVED = ("faster", "shrank")  # the results of a time or memory figure that improved


@dataclass
class Comparison:
    rows: list[dict[str, str]] = field(default_factory=list)
    regressions: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, key: Key, name: str, unit: str | None, base: Any, new: Any, result: str) -> None:
        self.rows.append(
            {
                "case": key[0],
                "variant": key[1],
                "figure": name,
                "base": formatted(base, unit),
                "new": formatted(new, unit),
                "change": _change(base, new),
                "result": result,
            }
        )
        self.regressions += result.startswith(REGRESSION)

    def markdown(self) -> str:
        return "\n".join([table(self.rows), *[f"- {note}" for note in self.notes]])


def _change(base: Any, new: Any) -> str:
    if not isinstance(base, int | float) or not isinstance(new, int | float) or base == new:
        return ""
    relative = f" ({new / base - 1:+.4%})" if base else ""
    difference = f"{new - base:+,}" if isinstance(base, int) and isinstance(new, int) else ""
    return (difference + relative).strip()


@dataclass(frozen=True)
class _Figure:
    value: Any
    how: str  # the field's `compare`: exact, memory or time
    unit: str | None
    name: str  # the field's name, as `absent` keys it
    owner: Result  # the result that holds it (a time figure's samples live there)


@dataclass(frozen=True)
class _Rules:
    same_machine: bool
    time_tolerance: float
    memory_tolerance: float


def _figures(result: Result) -> dict[str, _Figure]:
    """Column -> every figure the field metadata marks as compared."""
    out: dict[str, _Figure] = {}
    for f in fields(result):
        value = getattr(result, f.name)
        if isinstance(value, Result):
            out.update(_figures(value))
        elif f.metadata.get("compare") and f.metadata.get("column"):
            meta = f.metadata
            out[meta["column"]] = _Figure(value, meta["compare"], meta["unit"], f.name, result)
    return out


def _index(run: Run) -> dict[Key, Record | DryRecord]:
    records, _ = merge(run.records)
    return {r.key: r for r in records}


def compare(base: Run, new: Run, time_tolerance: float, memory_tolerance: float) -> Comparison:
    """Every compared figure both runs have, per case and variant, with its verdict."""
    if base.kind != new.kind:
        raise BadInput(f"{new.path}: a {new.kind}, but {base.path} is a {base.kind}")
    old, fresh = _index(base), _index(new)
    if not {k[0] for k in old} & {k[0] for k in fresh}:
        raise BadInput(
            f"{new.path}: no case in common with {base.path}: nothing to compare (base:"
            f" {', '.join(sorted({k[0] for k in old}))}; new:"
            f" {', '.join(sorted({k[0] for k in fresh}))})"
        )
    result = Comparison()
    rules = _Rules(base.machine_id == new.machine_id, time_tolerance, memory_tolerance)
    unmatched = False
    for key, a in old.items():
        b = fresh.get(key)
        if a.status != OK:
            result.notes.append(f"{key[0]} {key[1]}: {a.status} in base, not compared")
        elif b is None or b.status != OK:
            status = "missing" if b is None else b.status
            result.add(key, "status", None, OK, status, f"REGRESSION: {status}")
        else:
            unmatched |= _judge(result, key, a, b, rules)
    if unmatched:
        result.notes.append(
            f"time and allocator memory not compared: base measured on {base.describe_machine()},"
            f" new on {new.describe_machine()} (GPU, CPU model, cores)"
        )
    result.notes += [f"only in new: {k[0]} {k[1]}" for k in fresh if k not in old]
    models = {
        (r.attention, fresh[k].attention) for k, r in old.items() if _attention(r, fresh.get(k))
    }
    result.notes += [f"attention modelled as {a} in base, {b} in new" for a, b in sorted(models)]
    return result


def _judge(result: Comparison, key: Key, a: Result, b: Result, rules: _Rules) -> bool:
    """Compare the figures of one case and variant; True if some were left out because the
    runs come from different machines."""
    unmatched = False
    theirs = _figures(b)
    for column, x in _figures(a).items():
        y = theirs[column]
        if x.value is None:
            continue
        if y.value is None:
            if x.how in DETERMINISTIC:
                reason = y.owner.absent.get(y.name, "no reason given")
                result.add(key, column, x.unit, x.value, None, f"REGRESSION: absent ({reason})")
        elif x.how == EXACT:
            same = x.value == y.value
            result.add(
                key, column, x.unit, x.value, y.value, "same" if same else "REGRESSION: changed"
            )
        elif x.how in (MEMORY, TIME) and not rules.same_machine:
            unmatched = True
        elif x.how in (MEMORY, COUNTED):
            grew = y.value > x.value * (1 + rules.memory_tolerance)
            shrank = y.value < x.value * (1 - rules.memory_tolerance)
            verdict = "REGRESSION: grew" if grew else "shrank" if shrank else "ok"
            result.add(key, column, x.unit, x.value, y.value, verdict)
        elif x.how == TIME:
            samples = (getattr(x.owner, "samples_ms", None), getattr(y.owner, "samples_ms", None))
            verdict = (
                _time_verdict(samples[0], samples[1], rules.time_tolerance)
                if samples[0] and samples[1]
                else "not compared: no samples"
            )
            result.add(key, column, x.unit, x.value, y.value, verdict)
    return unmatched


def _attention(a: Record | DryRecord, b: Record | DryRecord | None) -> bool:
    """Whether two dry-run records model attention differently (math or fused kernels)."""
    return isinstance(a, DryRecord) and isinstance(b, DryRecord) and a.attention != b.attention


def _time_verdict(base: list[float], new: list[float], tolerance: float) -> str:
    ci = ratio_of_medians(new, base, paired=False)
    text = f"x{ci.ratio:.3f} [{ci.low:.3f}, {ci.high:.3f}]"
    if ci.low > 1 + tolerance:
        return f"REGRESSION: slower {text}"
    if ci.high < 1 - tolerance:
        return f"faster {text}"
    return f"ok {text}"


def parse_tolerance(text: str, name: str) -> float:
    """`10%` or `0.1` -> 0.1; finite and not negative, else one line naming the option."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise BadInput(
            f"{name}: expected a finite, non-negative percentage like 10% or fraction like 0.1,"
            f" got {text!r}"
        )
    return value
