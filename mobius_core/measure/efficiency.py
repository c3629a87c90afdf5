"""Model FLOPs utilisation: achieved FLOP/s over the GPU's dense peak for the dtype."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mobius_core.measure.result import Result

# Dense peak TFLOP/s (no sparsity), from the vendors' data sheets. Extend here, or set
# MOBIUS_PEAK_TFLOPS to override for the GPU at hand.
PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H100": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0},  # SXM
    "H200": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0},  # SXM
    "A100": {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5},
}
OVERRIDE = "MOBIUS_PEAK_TFLOPS"


@dataclass
class EfficiencyResult(Result):
    mfu: float | None = None
    achieved_tflops: float | None = None
    peak_tflops: float | None = None
    peak_source: str | None = None


def peak_tflops(gpu_name: str | None, dtype: str) -> tuple[float | None, str]:
    """The dense peak for `gpu_name` at `dtype`, and where it came from (or why absent)."""
    if os.environ.get(OVERRIDE):
        return float(os.environ[OVERRIDE]), f"${OVERRIDE}"
    if not gpu_name:
        return None, "no GPU: MFU is defined against a GPU's peak"
    for key, peaks in PEAK_TFLOPS.items():
        if key in gpu_name:
            if dtype in peaks:
                return peaks[dtype], f"table: {key} {dtype}"
            return None, f"no {dtype} peak for {key} in the table"
    return None, f"{gpu_name!r} is not in the peak table; set {OVERRIDE}"


def mfu(flops: int, median_ms: float, gpu_name: str | None, dtype: str) -> EfficiencyResult:
    achieved = flops / (median_ms / 1000) / 1e12
    peak, source = peak_tflops(gpu_name, dtype)
    if peak is None:
        return EfficiencyResult(achieved_tflops=achieved, absent={"mfu": source})
    return EfficiencyResult(
        mfu=achieved / peak, achieved_tflops=achieved, peak_tflops=peak, peak_source=source
    )
