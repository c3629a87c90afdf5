"""`mobius-bench compare`: a new run against a base, and whether anything regressed.

Deterministic figures (FLOPs, saved-activation bytes, parameter counts) regress on any
change; memory beyond its tolerance; time only when the slowdown's whole 95% interval
(the noise of both runs) lies beyond the tolerance. Time and memory are compared only
between runs of the same machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mobius_core.measure.stats import ratio_of_medians
from mobius_core.report.markdown import table
from mobius_core.report.runs import Run, case_key
from mobius_core.report.tables import figure

DETERMINISTIC = (
    "flops",
    "flops_forward",
    "flops_backward",
    "flops_recomputed",
    "saved_bytes",
    "params_trainable",
    "params_total",
)
MEMORY = ("peak_allocated", "peak_reserved")


@dataclass
class Comparison:
    rows: list[dict[str, Any]] = field(default_factory=list)
    regressions: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, key: tuple[str, str], figure: str, base: Any, new: Any, result: str) -> None:
        change = f"{new / base - 1:+.2%}" if base else ""
        self.rows.append(
            {
                "case": key[0],
                "variant": key[1],
                "figure": figure,
                "base": base,
                "new": new,
                "change": change,
                "result": result,
            }
        )
        self.regressions += result.startswith("REGRESSION")

    def markdown(self) -> str:
        return "\n".join([table(self.rows), *[f"- {note}" for note in self.notes]])


def _index(run: Run) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (case_key(r["case"]), r["case"]["variant"]): r for r in run.records if r["status"] == "ok"
    }


def machine(run: Run) -> tuple[Any, ...]:
    m = run.machine
    return (m.get("gpu"), m.get("cpu"), m.get("cpu_count"))


def compare(base: Run, new: Run, time_tolerance: float, memory_tolerance: float) -> Comparison:
    """Every figure both runs have, per case and variant, with its verdict."""
    result = Comparison()
    old, fresh = _index(base), _index(new)
    same_machine = machine(base) == machine(new)
    if not same_machine:
        result.notes.append(
            f"time and memory not compared: base measured on {machine(base)}, new on"
            f" {machine(new)} (GPU, CPU, cores)"
        )
    for key in [k for k in old if k in fresh]:
        a, b = old[key], fresh[key]
        for name in DETERMINISTIC:
            x, y = figure(a, name), figure(b, name)
            if x is not None and y is not None:
                result.add(key, name, x, y, "same" if x == y else "REGRESSION: changed")
        if not same_machine:
            continue
        for name in MEMORY:
            x, y = figure(a, name), figure(b, name)
            if x is not None and y is not None:
                worse = y > x * (1 + memory_tolerance)
                result.add(key, name, x, y, "REGRESSION: grew" if worse else "ok")
        if "time" in a and "time" in b:
            result.add(
                key,
                "time_median_ms",
                a["time"]["median_ms"],
                b["time"]["median_ms"],
                _time_verdict(a["time"]["samples_ms"], b["time"]["samples_ms"], time_tolerance),
            )
    for key in old.keys() - fresh.keys():
        result.notes.append(f"only in base: {key[0]} {key[1]}")
    for key in fresh.keys() - old.keys():
        result.notes.append(f"only in new: {key[0]} {key[1]}")
    return result


def _time_verdict(base: list[float], new: list[float], tolerance: float) -> str:
    ci = ratio_of_medians(new, base, paired=False)
    text = f"x{ci.ratio:.3f} [{ci.low:.3f}, {ci.high:.3f}]"
    if ci.low > 1 + tolerance:
        return f"REGRESSION: slower {text}"
    if ci.high < 1 - tolerance:
        return f"faster {text}"
    return f"ok {text}"


def parse_tolerance(text: str, name: str) -> float:
    """`10%` or `0.1` -> 0.1."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(
            f"{name}: expected a percentage like 10% or a fraction, got {text!r}"
        ) from None
    if value < 0:
        raise ValueError(f"{name}: must not be negative, got {text!r}")
    return value
