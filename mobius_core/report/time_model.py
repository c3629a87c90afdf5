"""A step-time model fitted on measured cases, to predict the time ratio where nothing was
measured. Imports no torch.

The model: a variant's step takes the longer of its launch time (the CPU launching kernels,
which does not grow with the shape) and its kernel time (its step FLOPs at one effective
rate shared by the variants):

    t_v(shape) = max(c_v, F_v(shape) / R),    c_serial, c_mobius >= 0, R > 0

A step is launch-bound where c_v is the longer: the GPU's work then hides under the launches
(the H200 run of 2026-11-27: serial took 213 ms at batch 1 and 245 ms at 4x the FLOPs). An
additive model, c_v + F_v / R, fitted there a rate above the GPU's peak.

Fitted by least squares on every measured case of the preset and dtype that has both serial
and mobius timed (median step time, FLOPs counted on the step): each variant's cases, in
order of FLOPs, split into a launch-bound few (c_v is their mean) and the rest, kernel-bound
(their FLOPs over their times give R); every split is tried and the one of least residual
kept. It needs `MIN_CASES` such cases and at least one kernel-bound point; otherwise the
FLOP ratio stands for the time ratio, and the model says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mobius_core.report.record import OK, Record

BASELINE, CANDIDATE = "serial", "mobius"
MIN_CASES = 2  # distinct measured shapes, each with both variants timed
TERA = 1e12


@dataclass(frozen=True)
class TimeModel:
    """The fitted model, or the FLOP ratio (`rate_tflops` None) and why."""

    rate_tflops: float | None = None  # R, in TFLOP/s
    fixed_ms: dict[str, float] = field(default_factory=dict)  # c_v per variant
    cases: tuple[str, ...] = ()  # the measured cases fitted
    worst_residual: float | None = None  # largest |fitted / measured - 1| over the points
    reason: str = ""  # why the FLOP ratio stands for time

    def step_ms(self, variant: str, flops: float) -> float:
        assert self.rate_tflops is not None
        return max(self.fixed_ms[variant], flops / TERA / self.rate_tflops * 1000)

    def ratio(self, serial_flops: float, mobius_flops: float) -> float:
        """Predicted mobius / serial step time at a shape with these step FLOPs."""
        if self.rate_tflops is None:
            return mobius_flops / serial_flops
        return self.step_ms(CANDIDATE, mobius_flops) / self.step_ms(BASELINE, serial_flops)

    def describe(self) -> str:
        if self.rate_tflops is None:
            return f"Time: the FLOP ratio stands for the time ratio ({self.reason})"
        fixed = ", ".join(f"{v} {ms:.1f} ms" for v, ms in self.fixed_ms.items())
        return (
            f"Time: t = max(c_variant, step FLOPs / R), the longer of the launch time and the"
            f" kernel time, fitted on {len(self.cases)} measured cases ({', '.join(self.cases)}):"
            f" R = {self.rate_tflops:.3g} TFLOP/s, launch time per step {fixed}; fitted step"
            f" times within {self.worst_residual:.1%} of the measured"
        )


Point = tuple[str, float, float]  # (variant, step FLOPs, median step ms)


def measured_points(records: list[Record], preset: str, dtype: str) -> dict[str, list[Point]]:
    """Case key -> serial's and mobius's (FLOPs, median ms), for the plain cases of `preset`
    and `dtype` (eager, one process, the preset's rejoin depth) that timed both."""
    by_case: dict[str, list[Point]] = {}
    for r in records:
        c = r.case
        plain = c.mode == "eager" and c.world_size == 1 and c.rejoin is None
        if r.status != OK or not plain or (c.preset, c.dtype) != (preset, dtype):
            continue
        if r.variant.name not in (BASELINE, CANDIDATE) or c.device == "meta":
            continue
        flops = r.flops.total if r.flops else None
        ms = r.time.median_ms if r.time else None
        if flops and ms:
            by_case.setdefault(c.key, []).append((r.variant.name, float(flops), float(ms)))
    return {k: v for k, v in by_case.items() if {p[0] for p in v} == {BASELINE, CANDIDATE}}


def fit(records: list[Record], preset: str, dtype: str) -> TimeModel:
    """The model fitted on `records`' measured cases, or the FLOP ratio and why."""
    cases = measured_points(records, preset, dtype)
    if len(cases) < MIN_CASES:
        return TimeModel(
            reason=f"{len(cases)} measured case(s) of {preset} {dtype} with serial and mobius"
            f" timed; the time model needs {MIN_CASES}"
        )
    points = [p for key in cases for p in cases[key]]
    best = _best_split(points)
    if best is None:
        return TimeModel(
            reason="every measured case is launch-bound: no FLOP rate can be fitted on them"
        )
    fixed, ms_per_tflop = best
    model = TimeModel(rate_tflops=1000 / ms_per_tflop, fixed_ms=fixed, cases=tuple(cases))
    worst = max(abs(model.step_ms(v, flops) / ms - 1) for v, flops, ms in points)
    return TimeModel(model.rate_tflops, fixed, tuple(cases), worst)


def _best_split(points: list[Point]) -> tuple[dict[str, float], float] | None:
    """(c_v per variant, ms per TFLOP) of least squared residual under t = max(c_v, F s),
    over every split of each variant's points (by FLOPs) into launch- and kernel-bound, a tie
    going to the split with more launch-bound points; None when no kernel-bound point is left."""
    by_variant = {
        v: sorted((f / TERA, ms) for name, f, ms in points if name == v)
        for v in (BASELINE, CANDIDATE)
    }
    best, best_residual = None, np.inf
    for k_serial in reversed(range(len(by_variant[BASELINE]) + 1)):  # ties: launch-bound
        for k_mobius in reversed(range(len(by_variant[CANDIDATE]) + 1)):
            split = {BASELINE: k_serial, CANDIDATE: k_mobius}
            fixed = {
                v: float(np.mean([ms for _, ms in pts[: split[v]]])) if split[v] else 0.0
                for v, pts in by_variant.items()
            }
            kernel = [p for v, pts in by_variant.items() for p in pts[split[v] :]]
            slope = (
                sum(f * ms for f, ms in kernel) / sum(f * f for f, _ in kernel) if kernel else 0.0
            )  # ms per TFLOP; 0: all launch-bound
            residual = sum(
                (max(fixed[v], f * slope) - ms) ** 2
                for v, pts in by_variant.items()
                for f, ms in pts
            )
            if residual < best_residual - 1e-9:
                best, best_residual = (fixed, slope), residual
    if best is None or best[1] <= 0:
        return None
    return best
