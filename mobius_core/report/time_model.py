"""A step-time model fitted on measured cases, to predict the time ratio where nothing was
measured. Imports no torch.

The model: a variant's step takes a fixed cost of its own (kernel launches and other
per-step work, which does not grow with the shape) plus its step FLOPs at one effective
rate shared by the variants:

    t_v(shape) = c_v + F_v(shape) / R,    c_serial, c_mobius >= 0, R > 0

fitted by least squares on every measured case of the preset and dtype that has both
serial and mobius timed (median step time, FLOPs counted on the step). It needs at least
`MIN_CASES` such cases (three unknowns); with fewer, or when no positive rate fits, the
FLOP ratio stands for the time ratio, and the model says so. Negative fixed costs are not
allowed: the fit is then repeated with them held at zero (the best feasible fit).
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
        return self.fixed_ms[variant] + flops / TERA / self.rate_tflops * 1000

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
            f"Time: t = c_variant + step FLOPs / R fitted on {len(self.cases)} measured cases"
            f" ({', '.join(self.cases)}): R = {self.rate_tflops:.3g} TFLOP/s, fixed cost per"
            f" step {fixed}; fitted step times within {self.worst_residual:.1%} of the measured"
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
    columns = [BASELINE, CANDIDATE, "flops"]
    design = np.array(
        [[p[0] == BASELINE, p[0] == CANDIDATE, p[1] / TERA] for p in points], dtype=float
    )
    times = np.array([p[2] for p in points])
    best = _best_feasible(design, times)
    if best is None:
        return TimeModel(reason="no fit on the measured cases gave a positive FLOP rate")
    solution = dict(zip(columns, best, strict=True))
    fitted = design @ best
    return TimeModel(
        rate_tflops=1000 / solution["flops"],  # ms per TFLOP -> TFLOP/s
        fixed_ms={BASELINE: solution[BASELINE], CANDIDATE: solution[CANDIDATE]},
        cases=tuple(cases),
        worst_residual=float(np.max(np.abs(fitted / times - 1))),
    )


def _best_feasible(design: np.ndarray, times: np.ndarray) -> np.ndarray | None:
    """Least squares with the fixed costs (columns 0, 1) >= 0 and the slope > 0: each set
    of fixed costs held at zero is tried, and the feasible fit of least residual kept."""
    best, best_residual = None, np.inf
    for held in ((), (0,), (1,), (0, 1)):
        free = [i for i in range(3) if i not in held]
        solved, *_ = np.linalg.lstsq(design[:, free], times, rcond=None)
        full = np.zeros(3)
        full[free] = solved
        if full[2] <= 0 or (full[:2] < 0).any():
            continue
        residual = float(np.sum((design @ full - times) ** 2))
        if residual < best_residual:
            best, best_residual = full, residual
    return best
