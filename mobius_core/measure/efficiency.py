"""Utilisation: achieved FLOP/s over the GPU's dense peak for the dtype.

MFU counts the model's FLOPs only (checkpoint recomputation left out), so that a variant
that recomputes does not look busier for it; HFU counts what the hardware ran, recomputation
included.
"""

from __future__ import annotations

import os
import re

from mobius_core.measure.results import EfficiencyResult

# Dense peak TFLOP/s (no sparsity; the data sheets' starred figures halved), from NVIDIA's
# data sheets. Checked in order: the first pattern found in the device name wins. Extend
# here, or set MOBIUS_PEAK_TFLOPS to override for the GPU at hand.
PEAK_TFLOPS: list[tuple[str, str, dict[str, float]]] = [
    # (pattern in torch's device name, label, dtype -> dense TFLOP/s)
    (r"\bH100 NVL\b", "H100 NVL", {"bf16": 835.5, "fp16": 835.5, "tf32": 417.5, "fp32": 60.0}),
    (r"\bH100 PCIe\b", "H100 PCIe", {"bf16": 756.5, "fp16": 756.5, "tf32": 378.0, "fp32": 51.0}),
    (r"\bH200 NVL\b", "H200 NVL", {"bf16": 835.5, "fp16": 835.5, "tf32": 417.5, "fp32": 60.0}),
    (r"\bH200\b", "H200 SXM", {"bf16": 989.5, "fp16": 989.5, "tf32": 494.5, "fp32": 67.0}),
    # "NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5 ...": the SXM part
    (r"\bH100\b", "H100 SXM", {"bf16": 989.5, "fp16": 989.5, "tf32": 494.5, "fp32": 67.0}),
    (r"\bA100\b", "A100", {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5}),
]
OVERRIDE = "MOBIUS_PEAK_TFLOPS"


def peak_tflops(gpu_name: str | None, dtype: str) -> tuple[float | None, str]:
    """The dense peak for `gpu_name` at `dtype`, and where it came from (or why absent)."""
    if os.environ.get(OVERRIDE):
        return float(os.environ[OVERRIDE]), f"${OVERRIDE}"
    if not gpu_name:
        return None, "no GPU: utilisation is defined against a GPU's peak"
    for pattern, label, peaks in PEAK_TFLOPS:
        if re.search(pattern, gpu_name):
            if dtype in peaks:
                return peaks[dtype], f"table: {label} {dtype} dense"
            return None, f"no {dtype} peak for {label} in the table"
    return None, f"{gpu_name!r} is not in the peak table; set {OVERRIDE}"


def utilisation(
    total: int, recomputed: int, median_ms: float, gpu_name: str | None, dtype: str
) -> EfficiencyResult:
    """MFU from `total - recomputed` FLOPs per step, HFU from `total`, at `median_ms`.

    `achieved_tflops` is the model's (MFU's) rate.
    """
    seconds = median_ms / 1000
    model_tflops = (total - recomputed) / seconds / 1e12
    peak, source = peak_tflops(gpu_name, dtype)
    if peak is None:
        return EfficiencyResult(achieved_tflops=model_tflops, absent={"mfu": source, "hfu": source})
    return EfficiencyResult(
        mfu=model_tflops / peak,
        hfu=total / seconds / 1e12 / peak,
        achieved_tflops=model_tflops,
        peak_tflops=peak,
        peak_source=source,
    )
